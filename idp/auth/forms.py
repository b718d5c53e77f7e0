"""Forms of the sign-in pages. Flask-WTF adds and checks the `csrf_token` field on each."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from . import identifiers
from .login import identifier_is_well_formed


def _well_formed_identifier(form, field) -> None:
    if not identifier_is_well_formed(identifiers.normalize(field.data or "")):
        raise ValidationError(
            _l("This is not a valid NID or NIPT: a letter, 8 digits and a letter, e.g. J00101001A.")
        )


class LoginForm(FlaskForm):
    account_type = RadioField(
        _l("Sign in as"),
        choices=[SelectChoice("citizen", _l("Citizen")), SelectChoice("business", _l("Business"))],
        default="citizen",
        # Optional: without it the kind is inferred from the identifier (login.account_kind).
        validate_choice=False,
    )
    nid = StringField(
        _l("Personal number (NID) or NIPT"),
        validators=[
            DataRequired(_l("Enter your NID or NIPT.")),
            Length(max=20),
            _well_formed_identifier,
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=1024)],
    )
    login_challenge = HiddenField()


class ConfirmForm(FlaskForm):
    """A form with only the CSRF token: consent decisions, revocations, sign-out."""


class CodeForm(FlaskForm):
    """The one-time code (field name `otp`, fixed by the interface)."""

    otp = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the 6-digit code.")), Length(max=12)],
    )
