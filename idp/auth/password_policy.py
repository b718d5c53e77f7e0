"""Which new passwords we accept: NIST SP 800-63B-4 §3.1.1.2 (password verifiers).

Length and a blocklist, nothing else: NIST forbids composition rules ("must contain a digit"), so
there are none. The blocklist is zxcvbn's 30,000 most common passwords, our own Albanian list
(data/common-passwords-sq.txt), repeated characters and keyboard or alphabet runs, and the
person's own identifiers. Both lists are loaded once, at import, into one frozenset.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

from flask import current_app
from flask_babel import lazy_gettext as _l
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from ..models import User


@dataclass(frozen=True)
class PasswordProblem:
    code: str  # "too_short" | "too_long" | "common" | "contains_identifier" | "repetitive"
    message: str  # a lazy_gettext string: str() renders it in the current request's language


# Albanian letters people leave out when typing on a keyboard without them: "fjalekalimi".
_ALBANIAN_FOLD = str.maketrans("ëç", "ec")

# Padding people add to a listed password to get past old composition rules: "Password1!",
# "shqiperia2024". Up to this many digits and symbols add little; longer padding counts only when
# it is itself a run or a repeat ("password12345678").
_MAX_SHORT_PADDING = 5

# Runs typed by sliding along a row, forwards or backwards, wrapping around ("7890123"). The
# Albanian keyboard is QWERTZ, so its rows are here beside the English ones.
_SEQUENCES = (
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qwertzuiop",
    "yxcvbnm",
)

# Shorter context words ("Ana", "Ali") occur inside many good passphrases; they are refused only
# as the whole password, digits and punctuation aside.
_MIN_CONTEXT_WORD = 4


def _fold(text: str) -> str:
    """How lists and context words are compared: lower case, ë→e, ç→c."""
    return text.lower().translate(_ALBANIAN_FOLD)


def _albanian_list() -> frozenset[str]:
    # Anchored on `idp` (a regular package) to match setup.cfg's package_data "auth/data/*.txt".
    text = files("idp").joinpath("auth/data/common-passwords-sq.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(_fold(line) for line in lines if line and not line.startswith("#"))


COMMON_PASSWORDS: frozenset[str] = frozenset(FREQUENCY_LISTS["passwords"]) | _albanian_list()


def check_password(
    password: str, *, min_length: int, max_length: int, context: Iterable[str] = ()
) -> PasswordProblem | None:
    """None if acceptable. `context` = words specific to this person (NID/NIPT, names, e-mail
    local part) that must not be the password or its bulk."""
    # §3.1.1.2: normalise with NFKC and count each code point as one character, so "ë" typed as
    # one code point or as "e" + combining diaeresis is the same password of the same length.
    password = unicodedata.normalize("NFKC", password)
    if len(password) < min_length:
        return PasswordProblem(
            "too_short", _l("Use at least %(min_length)d characters.", min_length=min_length)
        )
    # Checked before the rest, which is then bounded by max_length.
    if len(password) > max_length:
        return PasswordProblem(
            "too_long", _l("Use at most %(max_length)d characters.", max_length=max_length)
        )
    if _is_common(password):
        return PasswordProblem(
            "common",
            _l("This password is on lists of common passwords that attackers try first."),
        )
    if _is_repetitive(password):
        return PasswordProblem(
            "repetitive",
            _l("Do not use repeated characters or simple runs such as 1234 or qwerty."),
        )
    if _contains_identifier(password, context):
        return PasswordProblem(
            "contains_identifier",
            _l("Do not use your personal number, NIPT, name or e-mail address as your password."),
        )
    return None


def _is_common(password: str) -> bool:
    stripped = _fold(password).strip()
    # "i love you" is the listed "iloveyou" with spaces.
    text = "".join(stripped.split())
    if stripped in COMMON_PASSWORDS or text in COMMON_PASSWORDS:
        return True
    # A listed password with padding before or after it.
    return any(
        (text[:cut] in COMMON_PASSWORDS and _is_padding(text[cut:]))
        or (_is_padding(text[:cut]) and text[cut:] in COMMON_PASSWORDS)
        for cut in range(1, len(text))
    )


def _is_padding(piece: str) -> bool:
    short = len(piece) <= _MAX_SHORT_PADDING and not any(char.isalpha() for char in piece)
    return short or _is_simple(piece)


def _is_repetitive(password: str) -> bool:
    """One simple piece ("aaaa…", "abcabc…", "9876…"), or two glued together ("qwerty123456")."""
    text = "".join(_fold(password).split())
    if _is_simple(text):
        return True
    return any(_is_simple(text[:cut]) and _is_simple(text[cut:]) for cut in range(3, len(text) - 2))


def _is_simple(piece: str) -> bool:
    if len(piece) < 3:
        return False
    return _is_repeat(piece) or _is_run(piece)


def _is_repeat(piece: str) -> bool:
    """A unit written at least twice: "aaaa", "abab", "passwordpassword"."""
    # A string is a whole number of copies of a shorter unit exactly when it occurs inside
    # itself doubled, other than at the two ends; one linear search instead of trying each unit.
    return piece in (piece + piece)[1:-1]


def _is_run(piece: str) -> bool:
    for row in _SEQUENCES:
        for direction in (row, row[::-1]):
            if piece in direction * (len(piece) // len(direction) + 2):
                return True
    return False


def _contains_identifier(password: str, context: Iterable[str]) -> bool:
    compact = _alphanumerics(password)
    letters = "".join(char for char in compact if char.isalpha())
    covered: set[int] = set()  # positions in `compact` taken up by context words
    for raw_word in context:
        word = _alphanumerics(unicodedata.normalize("NFKC", raw_word))
        if not word:
            continue
        # "Arta1990!" is the name "arta" with digits and punctuation around it.
        if compact == word or letters == word:
            return True
        if len(word) >= _MIN_CONTEXT_WORD:
            start = compact.find(word)
            while start != -1:
                covered.update(range(start, start + len(word)))
                start = compact.find(word, start + 1)
    # Words together, so "Arta Demo 1990" counts both names.
    return 2 * len(covered) > len(compact)


def _alphanumerics(text: str) -> str:
    """Folded letters and digits only: "arta.demo" and "Arta Demo" compare equal."""
    return "".join(char for char in _fold(text) if char.isalnum())


def check_configured(password: str, context: Iterable[str | None]) -> PasswordProblem | None:
    """check_password with this deployment's lengths; empty context words are ignored."""
    config = current_app.config
    return check_password(
        password,
        min_length=config["PASSWORD_MIN_LENGTH"],
        max_length=config["PASSWORD_MAX_LENGTH"],
        context=[word for word in context if word],
    )


def personal_words(user: User) -> list[str | None]:
    """What an account's password must not be made of."""
    email_name = user.email.partition("@")[0] if user.email else None
    return [user.identifier, user.given_name, user.family_name, user.business_name, email_name]
