"""How many registrations and recoveries one source address may start in an hour.

Starting either keeps a transaction in the short-lived store and may send codes, so one machine
repeating it could fill the store and spend the SMS budget. The counts are atomic in the store
(`incr`), per `request.remote_addr` (the client's address when ProxyFix trusts the proxies in
front), over a fixed hour from the first start; the limits are settings sized so that an office
or a mobile carrier's NAT, many people behind one address, still gets through.
"""

from __future__ import annotations

import math
import time

from flask import current_app, render_template, request

WINDOW = 3600


def exceeded(action: str, limit: int) -> float | None:
    """Count one more `action` from this address; past `limit` within the hour, the moment the
    address may start again, else None."""
    store = current_app.extensions["idp.store"]
    counter = store.incr(f"{action}-from:{request.remote_addr}", WINDOW)
    return counter.expires_at if counter.value > limit else None


def refused(until: float):
    """The page for an address over its limit: 429 with Retry-After (RFC 6585 §4)."""
    retry_after = str(max(1, math.ceil(until - time.time())))
    page = render_template("throttled.html", until=until, too_many_requests=True)
    return page, 429, {"Retry-After": retry_after}
