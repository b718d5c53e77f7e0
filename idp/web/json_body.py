"""JSON request bodies, read within limits.

Python's JSON parser recurses once per nested array or object, so a body nested some thousands
deep raises RecursionError (a 500) where a parse error was expected. Its size is already capped
by MAX_CONTENT_LENGTH (Werkzeug answers 413); read_object() refuses a larger body, a deeper one
and anything that is not one JSON object with BodyError, for the caller to answer in its
protocol's words (RFC 7591 §3.2.2: invalid_client_metadata).
"""

from __future__ import annotations

import json
import re

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

# Client metadata, the deepest body we read, nests 4 deep (jwks > keys > key > x5c).
MAX_DEPTH = 16
# A string, whose brackets do not count (unterminated, it runs to the end: never a retry from
# each quote inside it, which would take quadratic time), or a bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


class BodyError(ValueError):
    """The body is not one JSON object within the limits; the message says why."""


def read_object(request: Request) -> dict:
    """The request's body as a JSON object."""
    if not request.is_json:
        raise BodyError("the body must be a JSON object (application/json)")
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except RequestEntityTooLarge:
        raise BodyError("the body is too large") from None
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise BodyError(f"the body nests more than {MAX_DEPTH} levels deep")
    try:
        body = json.loads(text)
    except ValueError:
        raise BodyError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object (application/json)")
    return body


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text (brackets inside strings do not count)."""
    depth = deepest = 0
    for token in _TOKENS.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest
