"""Forms of the account pages. Flask-WTF adds and checks the `csrf_token` field on each."""

from __future__ import annotations

import re

import phonenumbers
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

# Deliberately loose: the code sent to the address is the real check.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _phone_number(form, field) -> None:
    """A valid number, national Albanian ("069 ...") or international; stored as E.164."""
    try:
        number = phonenumbers.parse(field.data, "AL")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(_l("This is not a valid phone number, e.g. 069 123 4567."))
    field.data = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email_address(form, field) -> None:
    if not EMAIL_PATTERN.fullmatch(field.data):
        raise ValidationError(_l("This is not a valid e-mail address, e.g. name@example.org."))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), Length(max=1024)],
    )
    # The policy (length, blocklist) is checked by the view, which knows the person's context.
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(max=1024)],
    )
    password_confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("password", _l("The two new passwords differ.")),
        ],
    )


class ContactChangeForm(FlaskForm):
    """A new phone number, a new e-mail address, or both."""

    phone = StringField(
        _l("New mobile phone number"),
        filters=[_strip],
        validators=[Optional(), Length(max=32), _phone_number],
    )
    email = EmailField(
        _l("New e-mail address"),
        filters=[_strip],
        validators=[Optional(), Length(max=254), _email_address],
    )

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.phone.data and not self.email.data:
            self.form_errors.append(_l("Enter a new phone number, a new e-mail address or both."))
            return False
        return True
