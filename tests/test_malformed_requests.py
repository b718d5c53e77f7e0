"""Whatever a client or a person sends, the answer is a clear error: never a 500."""

from __future__ import annotations

import pytest

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.mark.parametrize(
    "method,path,kwargs",
    [
        ("GET", "/authorize", {}),
        ("GET", "/authorize?client_id=%00%ff&response_type=code", {}),
        ("GET", "/authorize?response_type=code&client_id[]=x", {}),
        ("POST", "/authorize", {"data": "{}", "content_type": "application/json"}),
        ("GET", "/authorize/continue?challenge=" + "x" * 500, {}),
        ("POST", "/token", {}),
        ("POST", "/token", {"data": {"grant_type": "authorization_code"}}),
        (
            "POST",
            "/token",
            {"data": {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"}},
        ),
        (
            "POST",
            "/token",
            {
                "data": {"grant_type": "refresh_token", "refresh_token": "x"},
                "headers": {"Authorization": "Basic !!!not-base64"},
            },
        ),
        (
            "POST",
            "/token",
            {
                "data": {"grant_type": "client_credentials"},
                "headers": {"Authorization": "Basic " + "x" * 3000},
            },
        ),
        (
            "POST",
            "/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": "a",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": "not.a.jwt",
                }
            },
        ),
        (
            "POST",
            "/token",
            {"data": b"\xff\xfe=\x00", "content_type": "application/x-www-form-urlencoded"},
        ),
        ("POST", "/introspect", {"data": {}}),
        ("POST", "/introspect", {"data": {"token": "x"}, "headers": {"Authorization": "Bearer x"}}),
        ("POST", "/revoke", {"data": {"token": "x", "token_type_hint": "weird"}}),
        ("GET", "/userinfo", {"headers": {"Authorization": "Bearer"}}),
        ("GET", "/userinfo", {"headers": {"Authorization": "Negotiate abc"}}),
        ("GET", "/userinfo", {"headers": {"Authorization": "Bearer a.b.c"}}),
        ("GET", "/logout?id_token_hint=%%%", {}),
        ("GET", "/logout?post_logout_redirect_uri=https://evil.example/&client_id=x", {}),
        ("GET", "/login?login_challenge=%00", {}),
        ("POST", "/login", {"data": {"nid": "J00101999W" * 50, "password": "x"}}),
        ("GET", "/consent?consent_challenge=nope", {}),
        ("POST", "/consent", {"data": {"decision": "allow"}}),
        ("GET", "/no/such/page", {}),
    ],
)
def test_no_server_error(client, method, path, kwargs):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code < 500, (path, response.get_data()[:300])
    if path.startswith(("/token", "/introspect", "/revoke", "/userinfo")):
        assert response.is_json, path
        assert "error" in response.get_json() or "error_description" in response.get_json()
