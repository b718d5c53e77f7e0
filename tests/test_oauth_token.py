"""The token endpoint: grants, client authentication and errors (RFC 6749 §4-6, §5.2)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select

from idp import security
from idp.cli import create_client
from idp.models import db
from idp.store.sql import ShortLivedState

from conftest import CITIZEN_NID
from oauth_helpers import REDIRECT_URI, authorize_url, code_grant, follow_to_code, pkce_pair


@pytest.fixture
def rp(register_client, citizen):
    return register_client(first_party=True)


def _code(client, rp_id: str, scope: str = "openid", **extra) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    params = follow_to_code(client, authorize_url(rp_id, scope, challenge, **extra), CITIZEN_NID)
    return params["code"], verifier


def _redeem(client, code, verifier, auth, **extra):
    return client.post("/token", data=code_grant(code, verifier, **extra), auth=auth)


def _userinfo(client, access_token):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_token_response_is_not_cached(client, rp):
    (registered, secret) = rp
    code, verifier = _code(client, registered.client_id)
    response = _redeem(client, code, verifier, (registered.client_id, secret))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert {"access_token", "refresh_token", "id_token"} <= set(body)


def test_id_token_has_every_required_claim(app, client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id, nonce="abc", acr_values="x")
    body = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(body["id_token"], keys)
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    for name in (
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
        "azp",
    ):
        assert name in claims, name
    assert claims["iss"] == app.config["ISSUER"]
    # Password and a code that reached the phone by SMS: substantial (docs/domain.md, eIDAS).
    assert claims["amr"] == ["pwd", "otp", "sms", "mfa"]
    assert claims["acr"] == app.config["ACR_SUBSTANTIAL"]


def test_access_token_is_an_rfc9068_jwt(app, client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id)
    body = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(body["access_token"], keys)
    assert token.header["typ"] == "at+jwt"
    for name in ("iss", "sub", "aud", "exp", "iat", "jti", "client_id"):
        assert name in token.claims


def test_code_replay_fails_and_revokes_the_tokens_it_produced(client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id)
    first = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    assert _userinfo(client, first["access_token"]).status_code == 200
    second = _redeem(client, code, verifier, (registered.client_id, secret))
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    assert _userinfo(client, first["access_token"]).status_code == 401
    refresh = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(registered.client_id, secret),
    )
    assert refresh.get_json()["error"] == "invalid_grant"


def test_pkce_mismatch_is_invalid_grant(client, rp):
    registered, secret = rp
    code, _ = _code(client, registered.client_id)
    other_verifier, _ = pkce_pair()
    response = _redeem(client, code, other_verifier, (registered.client_id, secret))
    assert response.get_json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_at_token_is_invalid_grant(client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id)
    response = _redeem(
        client,
        code,
        verifier,
        (registered.client_id, secret),
        redirect_uri="https://rp.example.org/other",
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_code_expires(app, client, rp, monkeypatch):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id)
    later = time.time() + app.config["AUTHORIZATION_CODE_LIFETIME"] + 1
    monkeypatch.setattr(time, "time", lambda: later)
    response = _redeem(client, code, verifier, (registered.client_id, secret))
    assert response.get_json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(client, rp, register_client):
    registered, _ = rp
    thief, thief_secret = register_client(name="Thief", first_party=True)
    code, verifier = _code(client, registered.client_id)
    response = _redeem(client, code, verifier, (thief.client_id, thief_secret))
    assert response.get_json()["error"] == "invalid_grant"


def test_wrong_secret_is_invalid_client_401_with_basic_challenge(client, rp):
    registered, _ = rp
    response = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(registered.client_id, "wrong")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_is_invalid_client(client):
    response = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x")
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_unsupported_grant_type(client, rp):
    registered, secret = rp
    response = client.post(
        "/token",
        data={"grant_type": "password", "username": "x"},
        auth=(registered.client_id, secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_grant_not_registered_is_unauthorized_client(client, rp):
    registered, secret = rp
    response = client.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(registered.client_id, secret)
    )
    assert response.get_json()["error"] == "unauthorized_client"


def test_missing_code_is_invalid_request(client, rp):
    registered, secret = rp
    response = client.post(
        "/token", data={"grant_type": "authorization_code"}, auth=(registered.client_id, secret)
    )
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "content_type,body",
    [
        ("application/json", json.dumps({"grant_type": "client_credentials"})),
        ("text/plain", "grant_type=client_credentials"),
    ],
)
def test_wrong_content_type_is_invalid_request(client, rp, content_type, body):
    registered, secret = rp
    response = client.post(
        "/token", data=body, content_type=content_type, auth=(registered.client_id, secret)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_repeated_parameter_is_invalid_request(client, rp):
    registered, secret = rp
    response = client.post(
        "/token",
        data="grant_type=client_credentials&scope=a&scope=b",
        content_type="application/x-www-form-urlencoded",
        auth=(registered.client_id, secret),
    )
    assert response.get_json()["error"] == "invalid_request"


def test_parameters_in_the_url_are_refused(client, rp):
    registered, secret = rp
    response = client.post(
        "/token?grant_type=client_credentials", data={"x": "1"}, auth=(registered.client_id, secret)
    )
    assert response.get_json()["error"] == "invalid_request"


def test_oversized_body_is_refused_cleanly(client, rp):
    registered, secret = rp
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "pad": "x" * 200_000},
        auth=(registered.client_id, secret),
    )
    assert response.status_code in (400, 413)
    assert response.get_json()["error"] == "invalid_request"


def test_two_authentication_methods_at_once_are_refused(client, rp):
    registered, secret = rp
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_secret": secret},
        auth=(registered.client_id, secret),
    )
    assert response.get_json()["error"] == "invalid_request"


def test_get_on_token_endpoint_is_refused_with_json(client):
    response = client.get("/token")
    assert response.status_code == 405
    assert response.get_json()["error"] == "invalid_request"


def test_refresh_rotates_and_reuse_revokes_the_family(client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id)
    first = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(registered.client_id, secret),
    ).get_json()
    assert refreshed["refresh_token"] != first["refresh_token"]
    assert "id_token" in refreshed
    reuse = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(registered.client_id, secret),
    )
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    # The whole family is gone: the newest refresh token and access token too.
    newest = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(registered.client_id, secret),
    )
    assert newest.get_json()["error"] == "invalid_grant"
    assert _userinfo(client, refreshed["access_token"]).status_code == 401


def test_refresh_cannot_widen_scope(client, rp):
    registered, secret = rp
    code, verifier = _code(client, registered.client_id, "openid profile")
    first = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    response = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "scope": "openid nid",
            "refresh_token": first["refresh_token"],
        },
        auth=(registered.client_id, secret),
    )
    assert response.get_json()["error"] == "invalid_scope"


def test_client_secret_post(client, citizen, register_client):
    registered, secret = register_client(auth_method="client_secret_post", first_party=True)
    code, verifier = _code(client, registered.client_id)
    response = _redeem(
        client, code, verifier, None, client_id=registered.client_id, client_secret=secret
    )
    assert response.status_code == 200, response.get_json()


def test_public_client_with_pkce(client, citizen, register_client):
    registered, _ = register_client(client_type="public", first_party=True)
    code, verifier = _code(client, registered.client_id)
    response = _redeem(client, code, verifier, None, client_id=registered.client_id)
    assert response.status_code == 200, response.get_json()


def test_private_key_jwt(app, client, citizen, register_client, tmp_path):
    key = ECKey.generate_key("P-256", parameters={"kid": "agency-1", "alg": "ES256"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    registered, secret = register_client(
        auth_method="private_key_jwt", jwks_file=str(jwks_file), first_party=True
    )
    assert secret is None
    code, verifier = _code(client, registered.client_id)

    def assertion():
        return private_key_jwt_sign(
            key,
            registered.client_id,
            app.config["ISSUER"],
            alg="ES256",
            claims={"jti": uuid.uuid4().hex},
            expires_in=120,
        )

    signed = assertion()
    form = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
        "client_id": registered.client_id,
    }
    response = _redeem(client, code, verifier, None, **form)
    assert response.status_code == 200, response.get_json()
    # The same assertion twice is a replay.
    replay = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": response.get_json()["refresh_token"],
            **form,
        },
    )
    assert replay.status_code in (400, 401) and replay.get_json()["error"] == "invalid_client"


@pytest.fixture
def assertion_client(serve_provider_on, tmp_path):
    """A provider (SQLite, then PostgreSQL) and a private_key_jwt back end registered in it:
    (provider, client_id, sign(claims) -> assertion)."""
    provider = serve_provider_on()
    key = ECKey.generate_key("P-256", parameters={"kid": "agency-1"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    with provider.app.app_context():
        registered, _ = create_client(
            name="Agency back end",
            auth_method="private_key_jwt",
            jwks_file=str(jwks_file),
            grant_types=["client_credentials"],
            scopes=["registry.read"],
        )
    client_id = registered.client_id

    def sign(**changes) -> str:
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": provider.app.config["ISSUER"],
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
            **changes,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode({"alg": "ES256", "kid": "agency-1"}, claims, key)

    return provider, client_id, sign


def _token_with(provider, assertion: str) -> requests.Response:
    return requests.post(
        f"{provider.url}/token",
        data={
            "grant_type": "client_credentials",
            "scope": "registry.read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=10,
    )


def test_client_assertions_name_the_issuer_alone_as_audience(assertion_client):
    provider, _, sign = assertion_client
    issuer = provider.app.config["ISSUER"]
    assert _token_with(provider, sign()).status_code == 200
    assert _token_with(provider, sign(aud=[issuer])).status_code == 200
    # draft-ietf-oauth-rfc7523bis: endpoint URLs and lists with another audience are refused.
    for audience in (
        f"{issuer}/token",
        f"{issuer}/introspect",
        f"{issuer}/revoke",
        [issuer, "https://other-server.example"],
        [f"{issuer}/token"],
        "https://other-server.example",
        None,
    ):
        refused = _token_with(provider, sign(aud=audience))
        assert refused.status_code in (400, 401), audience
        assert refused.json()["error"] == "invalid_client"


def test_client_assertions_are_short_lived_and_used_once(assertion_client):
    provider, client_id, sign = assertion_client
    now = int(time.time())
    lifetime = provider.app.config["CLIENT_ASSERTION_MAX_LIFETIME"]
    assert _token_with(provider, sign(exp=now + lifetime)).status_code == 200
    for changes in ({"exp": now + 3600}, {"exp": None}, {"jti": None}, {"jti": 42}):
        refused = _token_with(provider, sign(**changes))
        assert refused.status_code in (400, 401), changes
        assert refused.json()["error"] == "invalid_client"
    # A jti of any length is remembered by a digest, on PostgreSQL too, and only while its
    # assertion could still be valid.
    exp = int(time.time()) + 30
    once = sign(jti="x" * 2000, exp=exp)
    assert _token_with(provider, once).status_code == 200
    assert _token_with(provider, once).json()["error"] == "invalid_client"
    with provider.app.app_context():
        remembered = db.session.execute(
            select(ShortLivedState).where(ShortLivedState.key.startswith("assertion-jti:"))
        ).scalars()
        expiries = {row.key: row.expires_at for row in remembered}
    assert all("xxxx" not in key for key in expiries)
    key = f"assertion-jti:{security.digest(client_id + ' ' + 'x' * 2000)}"
    assert expiries[key] <= exp + 60 + 1  # the clock-skew leeway, no more


def test_client_credentials_for_agency_back_ends(app, client, register_client):
    backend, secret = register_client(
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["registry.read"],
        resources=["https://api.agency.example/"],
    )
    response = client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "scope": "registry.read",
            "resource": "https://api.agency.example/",
        },
        auth=(backend.client_id, secret),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body and "id_token" not in body
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    claims = jwt.decode(body["access_token"], keys).claims
    assert claims["aud"] == "https://api.agency.example/"
    assert claims["sub"] == backend.client_id
    for person in ("given_name", "nid", "auth_time"):
        assert person not in claims


def test_client_credentials_never_carry_user_scopes(client, register_client):
    backend, secret = register_client(
        grant_types=["client_credentials"], redirect_uris=[], scopes=["openid", "nid"]
    )
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "nid"},
        auth=(backend.client_id, secret),
    )
    assert response.get_json()["error"] == "invalid_scope"


def test_unregistered_resource_is_invalid_target(client, register_client):
    backend, secret = register_client(grant_types=["client_credentials"], redirect_uris=[])
    response = client.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": "https://elsewhere.example/"},
        auth=(backend.client_id, secret),
    )
    assert response.get_json()["error"] == "invalid_target"


def test_es256_id_tokens_per_client(client, citizen, register_client):
    registered, secret = register_client(id_token_alg="ES256", first_party=True)
    code, verifier = _code(client, registered.client_id)
    body = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    assert jwt.decode(body["id_token"], keys).header["alg"] == "ES256"


def test_pairwise_subjects_differ_per_sector(client, citizen, register_client):
    one, one_secret = register_client(pairwise=True, first_party=True)
    two, two_secret = register_client(
        pairwise=True, first_party=True, redirect_uris=[REDIRECT_URI], sector_identifier="other.gov"
    )
    keys = KeySet.import_key_set(client.get("/jwks.json").get_json())
    subjects = []
    for registered, secret in ((one, one_secret), (two, two_secret)):
        code, verifier = _code(client, registered.client_id)
        body = _redeem(client, code, verifier, (registered.client_id, secret)).get_json()
        sub = jwt.decode(body["id_token"], keys).claims["sub"]
        assert _userinfo(client, body["access_token"]).get_json()["sub"] == sub
        subjects.append(sub)
    assert subjects[0] != subjects[1]
    assert citizen.subject not in subjects
