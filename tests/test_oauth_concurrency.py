"""Single use under concurrency, over real HTTP: one code or refresh token, many redeemers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from oauth_helpers import code_grant, new_sign_in

PARALLEL = 8


def _post_many(url: str, data: dict, auth: tuple[str, str]) -> list[int]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [
            pool.submit(requests.post, url, data=data, auth=auth, timeout=30)
            for _ in range(PARALLEL)
        ]
        return sorted(f.result().status_code for f in futures)


def test_one_code_redeemed_in_parallel_succeeds_exactly_once(live_provider):
    client_id, secret, code, verifier = new_sign_in(live_provider.app)
    statuses = _post_many(
        f"{live_provider.url}/token", code_grant(code, verifier), (client_id, secret)
    )
    assert statuses == [200] + [400] * (PARALLEL - 1)


def test_one_refresh_token_used_in_parallel_succeeds_at_most_once(live_provider):
    client_id, secret, code, verifier = new_sign_in(live_provider.app)
    token = requests.post(
        f"{live_provider.url}/token",
        data=code_grant(code, verifier),
        auth=(client_id, secret),
        timeout=30,
    ).json()
    statuses = _post_many(
        f"{live_provider.url}/token",
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        (client_id, secret),
    )
    # Exactly one wins the atomic spend; the others are reuse, which also ends the family.
    assert statuses.count(200) == 1
    assert statuses.count(400) == PARALLEL - 1
