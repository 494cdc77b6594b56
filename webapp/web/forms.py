"""Web forms."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

# What the page offers; the content decides the format, the name only guides the file picker.
ALLOWED_EXTENSIONS = ["csv", "xlsx", "xlsm", "xlsb", "xls", "ods", "parquet"]
EXTENSIONS_TEXT = ", ".join(f".{e}" for e in ALLOWED_EXTENSIONS)


class UploadForm(FlaskForm):
    file = FileField("File of applications", validators=[
        FileRequired("Choose a CSV or spreadsheet file."),
        FileAllowed(ALLOWED_EXTENSIONS, f"Upload a file ending in {EXTENSIONS_TEXT}."),
    ])
    sheet = StringField("Excel sheet (optional)", validators=[Optional(), Length(max=100)])
    include_input = BooleanField("Add my other columns to the results")
    # On by default: a declined application needs its principal reasons (Regulation B adverse action).
    explain = BooleanField("Give the principal reasons for each declined application", default=True)
    # Decisions are the applicants' (notices, parity); analysis re-scores for validation (issue 21's purpose).
    purpose = SelectField("Purpose", choices=[
        SelectChoice("decision", "Decide these applications"),
        SelectChoice("analysis", "Analysis: re-scoring or validation, no applicant is decided (no notices)"),
    ], default="decision")
