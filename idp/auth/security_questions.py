"""Security questions: a recovery step only, never a sign-in factor (NIST SP 800-63B).

The person picks one question at registration; the answer is stored as an argon2id hash of its
normalised form, so "  Tiranë" and "tirane" are the same answer: case, spaces and Albanian
diacritics (ë, ç and any other combining mark) do not count.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..models import User

QUESTIONS = {
    "birth_city_mother": _l("In which city was your mother born?"),
    "first_school": _l("What was the name of your first school?"),
    "childhood_friend": _l("What is the first name of your best childhood friend?"),
    "first_teacher": _l("What was the surname of your first teacher?"),
    "first_street": _l("In which street did you live as a child?"),
    "favourite_dish": _l("What is your favourite traditional dish?"),
}


def normalize_answer(answer: str) -> str:
    decomposed = unicodedata.normalize("NFKD", answer.casefold())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(letters.split())


def hash_answer(answer: str) -> str:
    """Through the Passwords service like a password: the same argon2id cost, and one of the
    same per-process slots (HashingBusy when none is free, idp.security)."""
    return current_app.extensions["idp.passwords"].hash(normalize_answer(answer))


def answer_matches(user: User | None, answer: str) -> bool:
    """One argon2id verification whether or not the account (or its answer) exists."""
    stored = user.security_answer_hash if user is not None else None
    return current_app.extensions["idp.passwords"].verify(stored, normalize_answer(answer))


def question_for(user: User | None, identifier: str) -> str:
    """The account's question; for an unknown identifier a stable decoy, so the page looks the
    same whether or not the account exists."""
    if user is not None and user.security_question in QUESTIONS:
        return user.security_question
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"question:{identifier}".encode(), hashlib.sha256).digest()
    keys = sorted(QUESTIONS)
    return keys[digest[0] % len(keys)]
