"""Forms of the registration pages: a citizen (NID) or a business (NIPT).

What is a hard rule here refuses the form: the NID's shape and birth date, the NIPT, the phone,
the e-mail, the password policy. The NID's check letter is only a reconstruction
(docs/domain.md), so a mismatch asks the person to confirm what they typed (`confirm_nid`)
instead of refusing.
"""

from __future__ import annotations

import datetime as dt
import re

import phonenumbers
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields import TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from . import identifiers, password_policy, security_questions

# A sane shape, not RFC 5322: something@domain.tld without spaces. The code sent to the address
# is the real check. 254 characters is the longest address SMTP can carry (RFC 5321 §4.5.3.1).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
MAX_EMAIL_LENGTH = 254
MIN_ANSWER_LENGTH = 2
_BIRTHDATE_MISSING = _l("Enter your date of birth, as on your ID card.")

# Albanian numbers get their codes by SMS, so they must be able to receive one.
_MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _identifier(value: str | None) -> str | None:
    return identifiers.normalize(value) if isinstance(value, str) else value


def phone_e164(raw: str) -> str | None:
    """The number in E.164, or None if it is not a valid phone number.

    Albanian numbers may be typed nationally (069 123 4567); foreign ones with + or 00 and their
    country code (00 is Albania's international prefix, so parsing with region AL reads it).
    Albanian numbers must be mobile: their codes come by SMS.
    """
    try:
        number = phonenumbers.parse(raw, "AL")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    is_albanian = phonenumbers.region_code_for_number(number) == "AL"
    if is_albanian and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """As stored: without surrounding spaces, the domain in lower case (it is case-insensitive;
    the local part, strictly, is not)."""
    local, _, domain = raw.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def _valid_phone(form, field) -> None:
    if phone_e164(field.data or "") is None:
        raise ValidationError(
            _l(
                "This is not a valid mobile number. Write an Albanian number as 06x xxx xxxx, "
                "a foreign one with 00 or + and the country code."
            )
        )


def _valid_email(form, field) -> None:
    value = (field.data or "").strip()
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise ValidationError(_l("This is not a valid e-mail address, e.g. name@example.com."))


def _answer_long_enough(form, field) -> None:
    if len(security_questions.normalize_answer(field.data or "")) < MIN_ANSWER_LENGTH:
        raise ValidationError(
            _l("Write an answer of at least %(count)d characters.", count=MIN_ANSWER_LENGTH)
        )


class RegistrationForm(FlaskForm):
    """What both kinds of account give: contact, password and the recovery question."""

    email = EmailField(
        _l("E-mail address"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter your e-mail address.")), _valid_email],
    )
    phone = TelField(
        _l("Mobile phone number"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Enter your mobile phone number.")),
            Length(max=32),
            _valid_phone,
        ],
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Choose a password.")), Length(max=1024)]
    )
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
    )
    security_question = SelectField(
        _l("Security question"),
        choices=[SelectChoice("", _l("Choose a question"))]
        + [SelectChoice(key, text) for key, text in security_questions.QUESTIONS.items()],
        # Checked by validate_security_question, with our own message.
        validate_choice=False,
    )
    security_answer = StringField(
        _l("Answer to the security question"),
        validators=[
            DataRequired(_l("Write the answer to your security question.")),
            Length(max=200),
            _answer_long_enough,
        ],
    )

    @property
    def identifier(self) -> str:
        """The account's identifier as stored (NID or compact NIPT)."""
        raise NotImplementedError

    def account_details(self) -> dict:
        """The account's descriptive columns (names, birth date, business name), JSON-ready."""
        raise NotImplementedError

    def password_context(self) -> list[str]:
        """Words of this person the password must not be (subclasses add identifier and names)."""
        return [(self.email.data or "").rpartition("@")[0]]

    def validate_security_question(self, field) -> None:
        if field.data not in security_questions.QUESTIONS:
            raise ValidationError(_l("Choose a security question."))

    def validate_password(self, field) -> None:
        problem = password_policy.check_configured(field.data or "", self.password_context())
        if problem is not None:
            raise ValidationError(problem.message)


class CitizenRegistrationForm(RegistrationForm):
    nid = StringField(
        _l("Personal number (NID)"),
        filters=[_identifier],
        validators=[DataRequired(_l("Enter your personal number (NID).")), Length(max=20)],
    )
    confirm_nid = BooleanField(_l("My personal number is correct as I typed it."))
    given_name = StringField(
        _l("First name"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter your first name.")), Length(max=100)],
    )
    family_name = StringField(
        _l("Surname"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter your surname.")), Length(max=100)],
    )
    birthdate = DateField(
        _l("Date of birth"),
        # Also the message for an empty field: one clear sentence instead of two.
        invalid_value_message=_BIRTHDATE_MISSING,
    )

    # Set by validate(): the NID is well formed but its check letter looks mistyped.
    nid_needs_confirmation = False

    @property
    def identifier(self) -> str:
        return self.nid.data or ""

    def account_details(self) -> dict:
        return {
            "given_name": self.given_name.data,
            "family_name": self.family_name.data,
            "birthdate": self.birthdate.data.isoformat(),
            "business_name": None,
        }

    def password_context(self) -> list[str]:
        names = [self.given_name.data, self.family_name.data]
        return [self.identifier, *names, *super().password_context()]

    def validate_nid(self, field) -> None:
        if not identifiers.is_valid_nid(field.data):
            raise ValidationError(
                _l(
                    "This is not a valid personal number (NID): a letter, 8 digits with your "
                    "birth date and a letter, e.g. J00101999W."
                )
            )

    def validate_birthdate(self, field) -> None:
        if field.data is None:
            if not field.process_errors:  # absent from the request, not merely malformed
                raise ValidationError(_BIRTHDATE_MISSING)
            return
        if field.data > dt.date.today():
            raise ValidationError(_l("The date of birth cannot be in the future."))
        # The NID contains the birth date: a hard rule (docs/domain.md).
        expected = identifiers.nid_birthdate(self.nid.data or "")
        if expected is not None and field.data != expected:
            raise ValidationError(
                _l(
                    "This date of birth does not match your personal number (NID). "
                    "Check both against your ID card."
                )
            )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        self.nid_needs_confirmation = (
            not self.nid.errors
            and not identifiers.nid_check_letter_matches(self.nid.data)
            and not self.confirm_nid.data
        )
        return valid and not self.nid_needs_confirmation


class BusinessRegistrationForm(RegistrationForm):
    nipt = StringField(
        _l("NIPT of the business"),
        filters=[_identifier],
        validators=[DataRequired(_l("Enter the NIPT of the business.")), Length(max=20)],
    )
    business_name = StringField(
        _l("Name of the business"),
        filters=[_strip],
        validators=[DataRequired(_l("Enter the name of the business.")), Length(max=200)],
    )
    given_name = StringField(
        _l("Administrator's first name"), filters=[_strip], validators=[Optional(), Length(max=100)]
    )
    family_name = StringField(
        _l("Administrator's surname"), filters=[_strip], validators=[Optional(), Length(max=100)]
    )

    @property
    def identifier(self) -> str:
        nipt = self.nipt.data or ""
        return identifiers.compact_nipt(nipt) if identifiers.is_valid_nipt(nipt) else nipt

    def account_details(self) -> dict:
        return {
            "given_name": self.given_name.data or None,
            "family_name": self.family_name.data or None,
            "birthdate": None,
            "business_name": self.business_name.data,
        }

    def password_context(self) -> list[str]:
        names = [self.business_name.data, self.given_name.data, self.family_name.data]
        return [self.identifier, *names, *super().password_context()]

    def validate_nipt(self, field) -> None:
        if not identifiers.is_valid_nipt(field.data):
            raise ValidationError(
                _l("This is not a valid NIPT: a letter, 8 digits and a letter, e.g. K22218003V.")
            )
