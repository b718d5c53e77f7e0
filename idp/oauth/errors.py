"""Text for OAuth error responses that may quote what a client sent.

RFC 6749 §4.1.2.1 and §5.2 allow only %x20-21 / %x23-5B / %x5D-7E in an error_description, and
Authlib refuses to build an error with any other character (a ValueError: a 500 for a `"` in a
parameter's name). Every description that quotes a request (a parameter's name, a JOSE error
about the client's own token) is made with describe().
"""

from __future__ import annotations

import re

# Everything RFC 6749 does not allow in an error_description.
_NOT_ALLOWED = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# Quoted request text is cut here: enough to recognise it, not a way to reflect a payload.
MAX_QUOTED_LENGTH = 40


def describe(text: str) -> str:
    """The text with each character RFC 6749 does not allow in an error description as `?`."""
    return _NOT_ALLOWED.sub("?", text)


def quoted(value: str) -> str:
    """A request's own text (a parameter's name) to quote inside an error description."""
    return "'" + describe(value[:MAX_QUOTED_LENGTH]) + "'"
