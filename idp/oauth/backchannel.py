"""OpenID Connect Back-Channel Logout 1.0, the provider's side.

When a sign-in ends (logout at one relying party, "sign out everywhere", a password change or
reset), every other relying party that took part in it is told directly, server to server: a
logout token (a JWT signed like ID tokens, `typ: logout+jwt`, with `sid`, `sub` and the logout
event) is POSTed to the client's registered `backchannel_logout_uri`. Deliveries run after the
response, each retried a few times with growing pauses when the client is unreachable or answers
with a server error; every outcome is audited.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import Flask, current_app
from sqlalchemy import select

from .. import audit, security
from ..models import Client, User, db
from . import tokens
from .claims import subject_for

EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Pause before each attempt: at once, then after 1, 5 and 30 seconds (BACKCHANNEL_LOGOUT_ATTEMPTS
# says how many of them are used).
ATTEMPT_DELAYS = (0, 1, 5, 30)
TIMEOUT = 5
# A logout token is valid for the whole retry period and a little more.
TOKEN_LIFETIME = 120

_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="backchannel-logout")


def logout_token(client: Client, user: User, sid: str) -> str:
    config = current_app.config
    now = int(time.time())
    claims = {
        "iss": config["ISSUER"],
        "aud": client.client_id,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": security.generate_secret(16),
        "sid": sid,
        "sub": subject_for(user, client, config["PAIRWISE_SALT"]),
        "events": {EVENT: {}},
    }
    alg = client.id_token_signed_response_alg or config["ID_TOKEN_SIGNING_ALG"]
    return tokens.sign(claims, alg, typ="logout+jwt")


def notify(user: User, sid: str, client_ids: Iterable[str]) -> None:
    """Send a logout token for session sid to each of these clients that asked for them."""
    client_ids = set(client_ids)
    if not client_ids:
        return
    clients = db.session.execute(
        select(Client).where(
            Client.client_id.in_(client_ids), Client.backchannel_logout_uri.is_not(None)
        )
    ).scalars()
    app = current_app._get_current_object()
    delays = ATTEMPT_DELAYS[: max(1, app.config["BACKCHANNEL_LOGOUT_ATTEMPTS"])]
    for client in clients:
        token = logout_token(client, user, sid)
        _executor.submit(
            _deliver,
            app,
            client.client_id,
            client.backchannel_logout_uri,
            token,
            user.identifier,
            delays,
        )


def _deliver(
    app: Flask, client_id: str, uri: str, token: str, account: str, delays: tuple[int, ...]
) -> None:
    outcome, reason = "failed", "unreachable"
    for delay in delays:
        time.sleep(delay)
        try:
            response = requests.post(
                uri, data={"logout_token": token}, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as error:
            reason = type(error).__name__
            continue
        if response.status_code in (200, 204):
            outcome, reason = "ok", ""
            break
        reason = f"answered {response.status_code}"
        if response.status_code < 500:
            break  # the client refused the token; sending it again changes nothing
    with app.app_context():
        audit.record(
            "logout.backchannel", outcome, account=account, client_id=client_id, reason=reason
        )
