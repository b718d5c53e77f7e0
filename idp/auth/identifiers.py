"""Albanian identifiers: the personal number (NID) of citizens and the NIPT of businesses.

NID: ``L D MM DD SSS C`` (docs/domain.md, "Identifiers"). The birth date inside it is a hard rule;
the check letter is not published officially, so a mismatch is only reported as a likely typo,
never a refusal.
NIPT: the shape python-stdnum validates (``stdnum.al.nipt``), with an optional ``AL`` prefix.
A self-employed person's NIPT is their NID, so one string can name both kinds of account.
"""

from __future__ import annotations

import datetime as dt
import re

from stdnum.al import nipt as stdnum_nipt
from stdnum.exceptions import ValidationError

_DECADES = "0123456789ABCDEFGHIJKLMNOPQRST"
_CHECK_ALPHABET = "WABCDEFGHIJKLMNOPQRSTUV"
_CHECK_WEIGHTS = (1, 1, 2, 3, 4, 5, 6, 7, 8)
_NID_SHAPE = re.compile(r"^[0-9A-T][0-9]{8}[A-Z]$")


def normalize(raw: str) -> str:
    """Upper case, no spaces or dashes: how identifiers are stored and compared."""
    return re.sub(r"[\s\-]", "", raw or "").upper()


def nid_birthdate(nid: str) -> dt.date | None:
    """The birth date encoded in a NID, or None if the string is not a NID with a real date."""
    nid = normalize(nid)
    if not _NID_SHAPE.match(nid):
        return None
    year = 1800 + 10 * _DECADES.index(nid[0]) + int(nid[1])
    month, day = int(nid[2:4]), int(nid[4:6])
    if month > 50:  # women: month + 50
        month -= 50
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def is_valid_nid(nid: str) -> bool:
    return nid_birthdate(nid) is not None


def nid_check_letter_matches(nid: str) -> bool:
    """The reconstructed check letter; remainder 0 accepts both W and A (docs/domain.md)."""
    nid = normalize(nid)
    total = 0
    for char, weight in zip(nid[:9], _CHECK_WEIGHTS, strict=True):
        value = int(char) if char.isdigit() else _CHECK_ALPHABET.index(char)
        total += value * weight
    remainder = total % 23
    expected = {_CHECK_ALPHABET[remainder]} | ({"A"} if remainder == 0 else set())
    return nid[9] in expected


def is_valid_nipt(nipt: str) -> bool:
    try:
        stdnum_nipt.validate(nipt)
    except ValidationError:
        return False
    return True


def compact_nipt(nipt: str) -> str:
    return stdnum_nipt.compact(nipt)
