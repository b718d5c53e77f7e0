"""What a person sees when an attempt was not evaluated: a locked account, other attempts being
checked right now, or too many attempts from their network."""

from __future__ import annotations

import math
import time

from flask import render_template

from .lockout import Denial, Refusal


def page(denial: Denial):
    """The page of a denial: 403 for a lock, 429 with Retry-After for the others (RFC 6585 §4)."""
    if denial.reason is Refusal.LOCKED:
        return render_template("locked.html", until=denial.until, lock=denial.lock), 403
    retry_after = str(max(1, math.ceil(denial.until - time.time())))
    template = "busy.html" if denial.reason is Refusal.BUSY else "throttled.html"
    return render_template(template, until=denial.until), 429, {"Retry-After": retry_after}
