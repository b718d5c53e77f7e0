"""Single use under concurrency, over real HTTP: one code or refresh token, many redeemers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from idp.cli import create_client

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
    auth, token = _first_refresh(live_provider)
    statuses = _post_many(
        f"{live_provider.url}/token",
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth,
    )
    # Exactly one wins the atomic spend; the others are reuse, which also ends the family.
    assert statuses.count(200) == 1
    assert statuses.count(400) == PARALLEL - 1


def _first_refresh(provider) -> tuple[tuple[str, str], dict]:
    """Sign in, redeem the code: (client credentials, token response with a refresh token)."""
    client_id, secret, code, verifier = new_sign_in(provider.app)
    token = requests.post(
        f"{provider.url}/token",
        data=code_grant(code, verifier),
        auth=(client_id, secret),
        timeout=30,
    ).json()
    return (client_id, secret), token


def _refresh(provider, auth, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=auth,
        timeout=30,
    )


def test_a_retry_within_the_reuse_interval_gets_the_same_successor(serve_provider_on):
    provider = serve_provider_on(REFRESH_REUSE_INTERVAL=30)
    auth, first = _first_refresh(provider)
    successor = _refresh(provider, auth, first["refresh_token"]).json()
    # The response was lost; the client retries with the token it still has.
    retried = _refresh(provider, auth, first["refresh_token"])
    assert retried.status_code == 200
    again = retried.json()
    assert again["refresh_token"] == successor["refresh_token"]
    assert again["access_token"] == successor["access_token"]
    assert again["id_token"] == successor["id_token"]
    # Not a new family member: the successor carries the family on.
    assert _refresh(provider, auth, successor["refresh_token"]).status_code == 200
    # Once the successor is used, the old token coming back is reuse and ends the family.
    assert _refresh(provider, auth, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _refresh(provider, auth, successor["refresh_token"]).status_code == 400


def test_parallel_retries_within_the_reuse_interval_all_get_one_successor(serve_provider_on):
    provider = serve_provider_on(REFRESH_REUSE_INTERVAL=30)
    auth, first = _first_refresh(provider)
    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(
            pool.map(lambda _: _refresh(provider, auth, first["refresh_token"]), range(PARALLEL))
        )
    assert [answer.status_code for answer in answers] == [200] * PARALLEL
    assert len({answer.json()["refresh_token"] for answer in answers}) == 1
    assert _refresh(provider, auth, answers[0].json()["refresh_token"]).status_code == 200


def test_reuse_after_the_interval_or_by_another_client_still_ends_the_family(live_provider):
    provider = live_provider
    provider.app.config["REFRESH_REUSE_INTERVAL"] = 1
    auth, first = _first_refresh(provider)
    successor = _refresh(provider, auth, first["refresh_token"]).json()
    with provider.app.app_context():
        other, other_secret = create_client(
            name="Other RP", redirect_uris=["https://other.example/cb"], first_party=True
        )
    other_auth = (other.client_id, other_secret)
    assert _refresh(provider, other_auth, first["refresh_token"]).status_code == 400
    time.sleep(1.2)
    assert _refresh(provider, auth, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert _refresh(provider, auth, successor["refresh_token"]).status_code == 400
