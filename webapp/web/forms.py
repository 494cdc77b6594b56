"""Web forms."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional

ALLOWED_EXTENSIONS = ["csv", "xlsx"]


class UploadForm(FlaskForm):
    file = FileField("File of applications", validators=[
        FileRequired("Choose a CSV or Excel (.xlsx) file."),
        FileAllowed(ALLOWED_EXTENSIONS, "Upload a .csv or .xlsx file."),
    ])
    sheet = StringField("Excel sheet (optional)", validators=[Optional(), Length(max=100)])
    include_input = BooleanField("Add my other columns to the results")
    # On by default: a declined application needs its principal reasons (Regulation B adverse action).
    explain = BooleanField("Give the principal reasons for each declined application", default=True)
