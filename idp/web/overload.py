"""The answer when the provider is too busy hashing to take one more password: HTTP 503 with
Retry-After (RFC 9110 §15.6.4), a page for people and JSON for machines, rather than a worker
that runs out of memory (idp.security.Passwords)."""

from __future__ import annotations

import json
import logging

from flask import Response, render_template, request

from ..security import HashingBusy
from .pages import API_PATHS

log = logging.getLogger(__name__)


def hashing_busy(error: HashingBusy, finish_url: str | None = None):
    """The 503 answer; `finish_url` adds a button that retries a step whose codes are already
    confirmed (the end of a registration), so the person need not start over."""
    # Operators should see saturation: it means the memory budget or the workers are too small.
    log.warning("refused %s %s: every argon2id slot is taken", request.method, request.path)
    headers = {"Retry-After": str(error.retry_after)}
    if request.path.startswith(API_PATHS):
        # RFC 6749 §4.1.2.1's code for a server that is temporarily overloaded.
        body = {"error": "temporarily_unavailable", "error_description": "server busy"}
        return Response(json.dumps(body), 503, headers, mimetype="application/json")
    return render_template("overloaded.html", finish_url=finish_url), 503, headers
