"""Forms of the account recovery pages. Flask-WTF adds and checks the `csrf_token` field on each."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from .forms import LoginForm


class RecoveryStartForm(FlaskForm):
    account_type = RadioField(
        _l("Account type"),
        choices=[SelectChoice("citizen", _l("Citizen")), SelectChoice("business", _l("Business"))],
        default="citizen",
        # Optional, as on the login page: without it the kind is inferred from the identifier.
        validate_choice=False,
    )
    # The login page's field: same label, same validation of the NID or NIPT.
    nid = LoginForm.nid


class SecurityAnswerForm(FlaskForm):
    answer = StringField(
        _l("Your answer"),
        validators=[DataRequired(_l("Enter your answer.")), Length(max=200)],
    )


class NewPasswordForm(FlaskForm):
    # The length rules are the password policy's (PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH);
    # Length here only bounds what we read.
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(max=1024)],
    )
    password_confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(_l("Repeat the new password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
    )
