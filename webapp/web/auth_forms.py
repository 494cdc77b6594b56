"""The accounts forms: sign-in, first-start setup, password change and new API key."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class SetupForm(FlaskForm):
    email = EmailField("Your email (the first admin)", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password (at least 12 characters)", validators=[DataRequired(), Length(max=1024)])


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[Optional(), Length(max=1024)])
    new = PasswordField("New password (at least 12 characters)", validators=[DataRequired(), Length(max=1024)])
    confirm = PasswordField("New password again", validators=[EqualTo("new", "The two new passwords differ.")])


class KeyForm(FlaskForm):
    name = StringField("What the key is for", validators=[Optional(), Length(max=100)])


class RevokeForm(FlaskForm):
    """Only the CSRF token: revoking is a POST from the account page."""
