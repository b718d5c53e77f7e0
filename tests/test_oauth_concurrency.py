"""Single use under concurrency, over real HTTP: one code or refresh token, many redeemers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from idp.cli import create_client, create_user

from conftest import CITIZEN_NID, PASSWORD
from oauth_helpers import REDIRECT_URI, authorize_url, follow_to_code, pkce_pair

PARALLEL = 8


def _post_many(url: str, data: dict, auth: tuple[str, str]) -> list[int]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [
            pool.submit(requests.post, url, data=data, auth=auth, timeout=30)
            for _ in range(PARALLEL)
        ]
        return sorted(f.result().status_code for f in futures)


def test_one_code_redeemed_in_parallel_succeeds_exactly_once(live_provider):
    app = live_provider.app
    with app.app_context():
        create_user(kind="citizen", identifier=CITIZEN_NID, password=PASSWORD)
        rp, secret = create_client(name="RP", redirect_uris=[REDIRECT_URI], first_party=True)
    browser = app.test_client()
    verifier, challenge = pkce_pair()
    code = follow_to_code(browser, authorize_url(rp.client_id, challenge=challenge), CITIZEN_NID)[
        "code"
    ]
    rp_id = rp.client_id
    statuses = _post_many(
        f"{live_provider.url}/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        (rp_id, secret),
    )
    assert statuses == [200] + [400] * (PARALLEL - 1)


def test_one_refresh_token_used_in_parallel_succeeds_at_most_once(live_provider):
    app = live_provider.app
    with app.app_context():
        create_user(kind="citizen", identifier=CITIZEN_NID, password=PASSWORD)
        rp, secret = create_client(name="RP", redirect_uris=[REDIRECT_URI], first_party=True)
    browser = app.test_client()
    verifier, challenge = pkce_pair()
    code = follow_to_code(browser, authorize_url(rp.client_id, challenge=challenge), CITIZEN_NID)[
        "code"
    ]
    rp_id = rp.client_id
    token = requests.post(
        f"{live_provider.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(rp_id, secret),
        timeout=30,
    ).json()
    statuses = _post_many(
        f"{live_provider.url}/token",
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        (rp_id, secret),
    )
    # Exactly one wins the atomic spend; the others are reuse, which also ends the family.
    assert statuses.count(200) == 1
    assert statuses.count(400) == PARALLEL - 1
