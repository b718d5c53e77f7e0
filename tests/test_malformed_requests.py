"""Whatever a client or a person sends, the answer is a clear error: never a 5xx, never a
traceback in the log.

The corpus sends malformed requests to every endpoint of the URL map over real sockets, on
SQLite and on PostgreSQL: oversized and repeated parameters, non-UTF-8 bytes, NUL, characters
RFC 6749 forbids in error descriptions (`"`, `\\`), markup, CR LF, wrong content types, deeply
nested JSON and JWTs. Requests are written byte by byte (no HTTP library sends most of them),
with real clients, tokens and a signed-in browser's cookies and CSRF token, so that they get
past the first check to the code that reads them. The tests after the corpus pin each fix.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_from_bytes, urlencode, urlsplit

import requests
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from idp.cli import create_client, create_user
from idp.models import db
from idp.oauth.registration import issue_initial_access_token
from idp.store.sql import ShortLivedState

from conftest import ARTA, CITIZEN_NID
from oauth_helpers import REDIRECT_URI, csrf_token, last_code, query

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"
ADMIN_TOKEN = secrets.token_urlsafe(32)
# Limits that would otherwise answer most of the corpus with 429 before the code under test
# has read what was sent.
GENEROUS_LIMITS = {
    "IP_FAILURE_LIMIT": 100_000,
    "ADDRESS_MAX_LOCKS": 100_000,
    "REGISTRATION_PER_ADDRESS_HOUR": 100_000,
    "RECOVERY_PER_ADDRESS_HOUR": 100_000,
    "OTP_MAX_PER_ADDRESS_HOUR": 100_000,
}
# What Flask, Werkzeug and our error handler write when a request ends in an exception.
TRACEBACK = re.compile(r"Traceback|Exception on|Error on request")
# RFC 6749 §4.1.2.1 / §5.2: the characters an error_description may hold.
DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def jwt_shaped(header: dict, claims: dict | bytes) -> bytes:
    """A compact JWS with this header and these claims, and a signature that verifies nothing."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return b64url(json.dumps(header).encode()) + b"." + b64url(payload) + b".AAAA"


# Past the JSON parser's recursion limit (1000).
DEEP = b"[" * 1100 + b"]" * 1100
DEEP_JSON = b"[" * 30_000 + b"]" * 30_000
# What a client or a person may put in a value (bytes: not all of it is UTF-8).
ODD_VALUES: dict[str, bytes] = {
    "quote": b'a"b',
    "backslash": b"a\\b",
    "markup": b"<script>alert(1)</script>",
    "crlf": b"a\r\nSet-Cookie: x=y",
    "nul": b"a\x00b",
    "not-utf8": b"\xff\xfe\xc3",
    "non-ascii": "Tiranë €😀".encode(),
    "long": b"x" * 5000,
    "empty": b"",
    "json": b'{"a": [1, 2]}',
    "deep-jwt-header": b64url(DEEP) + b"." + b64url(b"{}") + b".AAAA",
    "deep-jwt-claims": jwt_shaped({"alg": "RS256"}, DEEP),
    # joserfc quotes these header values in its errors.
    "jwt-quoting-kid": jwt_shaped({"alg": "RS256", "kid": 'k"\\'}, {"sub": "x"}),
    "jwt-quoting-crit": jwt_shaped({"alg": "RS256", "crit": ['c"\\']}, {"sub": "x"}),
}
# ...and in a parameter's name.
ODD_NAMES = [b'a"b', b"a\\b", b"<x>", b"\xff", b"a\x00", b"a\r\nb", b"x" * 300]
ODD_HEADER_VALUES = [
    b'Bearer "\\',
    b"Bearer " + b"x" * 8000,
    b"Bearer " + ODD_VALUES["deep-jwt-claims"],
    b"Bearer " + ODD_VALUES["jwt-quoting-kid"],
    b"Basic \xff\xfe",
    b"Basic " + base64.b64encode(b"a\x00b:x"),
    b"Basic " + base64.b64encode(b"a%00b:x"),
    b"a\x00b",
]
Parameters = list[tuple[bytes, bytes]]


@dataclass
class Probe:
    method: str
    target: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""

    def __str__(self) -> str:
        content_type = self.headers.get("Content-Type", b"")
        return f"{self.method} {self.target[:150]!r} {content_type!r} {self.body[:150]!r}"


@dataclass
class Answer:
    status: int
    raw: bytes


def send(url: str, probe: Probe) -> Answer:
    """Write one HTTP/1.1 request exactly as given and read the answer.

    The answer ends at its Content-Length: the server may leave unread a body it refused (413)
    and keep the connection open, so waiting for it to close would wait for the timeout."""
    parts = urlsplit(url)
    headers = {"Connection": b"close", "Content-Length": str(len(probe.body)).encode()}
    headers.update(probe.headers)
    lines = [f"{probe.method} ".encode() + probe.target + b" HTTP/1.1"]
    lines += [b"Host: " + parts.netloc.encode()]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + probe.body)
        raw = b""
        while b"\r\n\r\n" not in raw and (chunk := sock.recv(65536)):
            raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
        expected = int(length[1]) if length else (0 if status in (204, 304) else None)
        while (expected is None or len(body) < expected) and (chunk := sock.recv(65536)):
            body += chunk
    return Answer(status, head + b"\r\n\r\n" + body)


def encode(pairs: Parameters) -> bytes:
    """Form or query encoding of raw bytes, whatever they are."""
    return b"&".join(
        quote_from_bytes(name).encode() + b"=" + quote_from_bytes(value).encode()
        for name, value in pairs
    )


@contextmanager
def captured_log() -> Iterator[list[str]]:
    """Every log record of the process while the block runs, formatted with its traceback.

    The migrations' logging set-up (Alembic's fileConfig) disables the loggers that exist by
    then and removes the root logger's handlers, pytest's included; a provider process never
    runs it, so the loggers are enabled again here and the handler goes on the root logger.
    """
    records: list[str] = []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(formatter.format(record))
    disabled = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and logger.disabled
    ]
    for logger in disabled:
        logger.disabled = False
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        for logger in disabled:
            logger.disabled = True


def tracebacks(log: list[str]) -> list[str]:
    return [record for record in log if TRACEBACK.search(record)]


# -- what the corpus needs: clients, a registration, a signed-in browser ------------------------


def agency(server, **options) -> tuple[str, str | None]:
    """A client of the served provider: (client_id, client_secret or None)."""
    settings = {
        "name": "Agency",
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": ["https://rp.example.org/bye"],
        "scopes": ["openid", "profile"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        **options,
    }
    with server.app.app_context():
        client, secret = create_client(**settings)
    return client.client_id, secret


def agency_with_keys(server) -> str:
    """A private_key_jwt client (its key's kid is "k1"): its client_id."""
    path = Path(server.app.instance_path) / "agency-jwks.json"
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    path.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    client_id, _ = agency(server, auth_method="private_key_jwt", jwks_file=str(path))
    return client_id


def registration_fields() -> dict[str, str]:
    return {
        "nid": CITIZEN_NID,
        "given_name": "Arta",
        "family_name": "Demo",
        "birthdate": "1990-01-01",
        "email": "arta@example.org",
        "phone": "069 123 4567",
        "password": "lule dhe mali 77",
        "password_confirm": "lule dhe mali 77",
        "security_question": "first_school",
        "security_answer": "Tiranë",
    }


@dataclass
class Subjects:
    """Real identifiers and credentials, so that malformed requests get past the first check."""

    client_id: str
    client_secret: str
    keyed_client_id: str
    issuer: str
    initial_access_token: str
    registered_id: str
    registration_token: str
    cookie: bytes
    csrf: str
    login_challenge: str

    @property
    def basic(self) -> bytes:
        return b"Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())


def sign_in(server, client_id: str) -> tuple[requests.Session, str, str]:
    """Arta signed in over HTTP for an authorization request: (browser, CSRF token,
    login_challenge)."""
    browser = requests.Session()
    browser.cookies.set("idp_lang", "en")
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI}
    start = browser.get(
        f"{server.url}/authorize?" + urlencode({**params, "scope": "openid"}),
        allow_redirects=False,
        timeout=10,
    )
    challenge = query(start.headers["Location"])["login_challenge"]
    page = browser.get(f"{server.url}/login?login_challenge={challenge}", timeout=10)
    token = csrf_token(page.text)
    browser.post(
        f"{server.url}/login",
        data={"csrf_token": token, "nid": CITIZEN_NID, "password": ARTA["password"]},
        timeout=10,
    )
    code_page = browser.get(f"{server.url}/code", timeout=10)
    browser.post(
        f"{server.url}/code",
        data={"csrf_token": csrf_token(code_page.text), "otp": last_code(server.app)},
        allow_redirects=False,
        timeout=10,
    )
    return browser, token, challenge


def prepare(server) -> Subjects:
    with server.app.app_context():
        create_user(**ARTA)
        initial_token = issue_initial_access_token("corpus", 100, 3600)
    client_id, secret = agency(server)
    registered = requests.post(
        f"{server.url}/oauth/register",
        json={"client_name": "Registered", "redirect_uris": [REDIRECT_URI]},
        headers={"Authorization": f"Bearer {initial_token}"},
        timeout=10,
    ).json()
    browser, token, challenge = sign_in(server, client_id)
    return Subjects(
        client_id=client_id,
        client_secret=secret,
        keyed_client_id=agency_with_keys(server),
        issuer=server.url,
        initial_access_token=initial_token,
        registered_id=registered["client_id"],
        registration_token=registered["registration_access_token"],
        cookie="; ".join(f"{c.name}={c.value}" for c in browser.cookies).encode(),
        csrf=token,
        login_challenge=challenge,
    )


# -- the corpus -----------------------------------------------------------------------------


def variants(base: dict[str, str], together: bool, names: bool = True) -> Iterator[Parameters]:
    """The base parameters with odd values: one parameter at a time for protocol endpoints,
    which stop at the first problem, or all at once for forms, which check every field. Then
    each parameter repeated, and parameters with odd names. A CSRF token stays as it is:
    without it a form is refused before its fields are read."""
    pairs = [(name.encode(), value.encode()) for name, value in base.items()]
    varied = [i for i, (name, _) in enumerate(pairs) if name != b"csrf_token"]
    for odd in ODD_VALUES.values():
        for change in [varied] if together else [[i] for i in varied]:
            yield [(name, odd if i in change else value) for i, (name, value) in enumerate(pairs)]
    yield pairs + [(pairs[i][0], b'"\\') for i in varied]
    for odd_name in ODD_NAMES if names else ODD_NAMES[:1]:
        yield [*pairs, (odd_name, b"1"), (odd_name, b"2")]


def query_probes(path: str, base: dict, together=False, names=True, **headers) -> Iterator[Probe]:
    for pairs in variants(base, together, names):
        yield Probe("GET", path.encode() + b"?" + encode(pairs), headers)


def form_probes(path: str, base: dict, together=False, names=True, **headers) -> Iterator[Probe]:
    headers = {"Content-Type": FORM.encode(), **headers}
    for pairs in variants(base, together, names):
        yield Probe("POST", path.encode(), headers, encode(pairs))
    yield from body_probes("POST", path, headers)


def body_probes(method: str, path: str, headers: dict[str, bytes]) -> Iterator[Probe]:
    """Bodies that are not what the endpoint reads, or not well-formed at all."""
    bodies = [
        (FORM, b"\xff\xfe=\x00&%ff=%fe&a=%"),
        (FORM, b"a=" + b"x" * 70_000),
        ("application/json", DEEP_JSON),
        ("application/json", b'{"a": '),
        ("application/json", b"\xff\xfe"),
        ("multipart/form-data; boundary=zz", b"--zz\r\nContent-Disposition: form-data\r\n\r\n"),
        ('text/plain; charset="\\', b"a=b"),
        ("", b"a=b"),
    ]
    for content_type, body in bodies:
        yield Probe(method, path.encode(), {**headers, "Content-Type": content_type.encode()}, body)


def header_probes(method: str, path: str, names: tuple[str, ...], **base) -> Iterator[Probe]:
    for name in names:
        for value in ODD_HEADER_VALUES:
            yield Probe(method, path.encode(), {**base, name: value})


def json_probes(method: str, path: str, headers: dict[str, bytes]) -> Iterator[Probe]:
    """Client metadata with odd values in its fields, values of the wrong type, and JSON that
    is not client metadata."""
    headers = {**headers, "Content-Type": b"application/json"}
    base = {"client_name": "x", "redirect_uris": [REDIRECT_URI]}
    texts = [odd.decode("utf-8", "replace") for odd in ODD_VALUES.values()]
    bodies = [{**base, "client_name": text, "scope": text, "logo_uri": text} for text in texts]
    bodies += [{**base, "redirect_uris": [text], "contacts": [text]} for text in texts]
    bodies += [{**base, "token_endpoint_auth_method": text} for text in texts]
    bodies += [{**base, "jwks": {"keys": [{"kty": "RSA", "n": text, "e": text}]}} for text in texts]
    for name in ("client_name", "redirect_uris", "jwks"):
        bodies += [{**base, name: wrong} for wrong in (1, True, {"keys": ["x"]}, "x" * 70_000)]
    for body in bodies:
        yield Probe(method, path.encode(), headers, json.dumps(body).encode())
    for raw in (b"[]", b"null", b"1e999999", b'{"a": NaN}', b'{"a": "\\u0000"}', b"{" * 30_000):
        yield Probe(method, path.encode(), headers, raw)


# The pages people use: (path, its form's fields, whether it answers GET).
PAGES = [
    ("/login", {"nid": CITIZEN_NID, "password": "x", "account_type": "citizen"}, True),
    ("/code", {"otp": "123456"}, True),
    ("/code/resend", {}, False),
    ("/consent", {"consent_challenge": "x", "decision": "allow"}, True),
    ("/recovery", {"nid": CITIZEN_NID, "account_type": "citizen"}, True),
    ("/recovery/question", {"answer": "x"}, True),
    ("/recovery/password", {"password": "x", "password_confirm": "x"}, True),
    ("/register", registration_fields(), True),
    ("/register/business", {**registration_fields(), "nipt": "K22218003V"}, True),
    ("/register/finish", {}, False),
    (
        "/account/password",
        {"current_password": "x", "password": "y", "password_confirm": "y"},
        True,
    ),
    ("/account/contact", {"email": "a@example.org", "phone": "0691234567"}, True),
]


def protocol_probes(s: Subjects) -> Iterator[Probe]:
    browser = {"Cookie": s.cookie}
    basic = {"Authorization": s.basic}
    authorize = {
        "response_type": "code",
        "client_id": s.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st",
        "nonce": "n",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "prompt": "none",
        "max_age": "60",
        "ui_locales": "en",
        "login_hint": CITIZEN_NID,
        "id_token_hint": "a.b.c",
        "resource": "https://api.example.org/",
        "response_mode": "query",
    }
    yield from query_probes("/authorize", authorize, **browser)
    # The same parameters from a form: only what differs in reading them.
    yield from form_probes("/authorize", authorize, together=True, **browser)
    yield from query_probes("/authorize/continue", {"challenge": s.login_challenge}, **browser)

    assertion = jwt_shaped(
        {"alg": "RS256", "kid": "k1"},
        {"iss": s.keyed_client_id, "sub": s.keyed_client_id, "aud": s.issuer, "exp": 2**31},
    )
    grants = [
        ({"grant_type": "client_credentials", "scope": "openid", "resource": "https://a/"}, basic),
        ({"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI}, basic),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, basic),
        ({"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}, {}),
        (
            {
                "grant_type": "client_credentials",
                "client_id": s.keyed_client_id,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion.decode(),
            },
            {},
        ),
    ]
    for index, (grant, headers) in enumerate(grants):
        yield from form_probes("/token", grant, names=index == 0, **headers)
    headers = {"Content-Type": FORM.encode()}
    for credentials in ODD_HEADER_VALUES:
        body = b"grant_type=client_credentials"
        yield Probe("POST", b"/token", {**headers, "Authorization": credentials}, body)
    for path in ("/revoke", "/introspect"):
        yield from form_probes(path, {"token": "x", "token_type_hint": "access_token"}, **basic)

    yield from query_probes("/userinfo", {"access_token": "x"}, names=False)
    yield from form_probes("/userinfo", {"access_token": "x"}, names=False)
    yield from header_probes("GET", "/userinfo", ("Authorization",))

    logout = {
        "id_token_hint": "a.b.c",
        "post_logout_redirect_uri": "https://rp.example.org/bye",
        "client_id": s.client_id,
        "state": "st",
        "ui_locales": "en",
    }
    yield from query_probes("/logout", logout, **browser)
    confirmed = {**logout, "confirm": "yes", "csrf_token": s.csrf}
    yield from form_probes("/logout", confirmed, together=True, names=False, **browser)

    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        yield from query_probes(path, {"x": "1"}, names=False)
    yield from query_probes("/jwks.json", {"x": "1"}, names=False)
    yield from header_probes("GET", "/jwks.json", ("If-None-Match",))
    yield from query_probes("/favicon.ico", {"x": "1"}, names=False)


def registration_probes(s: Subjects) -> Iterator[Probe]:
    registration = {"Authorization": b"Bearer " + s.initial_access_token.encode()}
    yield from json_probes("POST", "/oauth/register", registration)
    yield from body_probes("POST", "/oauth/register", registration)
    yield from header_probes("POST", "/oauth/register", ("Authorization",))
    management = {"Authorization": b"Bearer " + s.registration_token.encode()}
    own = f"/oauth/register/{s.registered_id}"
    yield from json_probes("PUT", own, management)
    yield from body_probes("PUT", own, management)
    yield Probe("GET", own.encode(), management)
    yield from header_probes("GET", own, ("Authorization",))
    for odd in ODD_VALUES.values():
        yield Probe("GET", b"/oauth/register/" + quote_from_bytes(odd).encode(), management)
        yield Probe("DELETE", b"/oauth/register/" + quote_from_bytes(odd).encode(), management)


def page_probes(s: Subjects) -> Iterator[Probe]:
    browser = {"Cookie": s.cookie}
    for path, fields, answers_get in [
        *PAGES,
        (f"/account/consents/{s.client_id}/revoke", {}, False),
    ]:
        if answers_get:
            yield from query_probes(path, fields, together=True, names=False, **browser)
        form = {"csrf_token": s.csrf, **fields}
        yield from form_probes(path, form, together=True, names=path == "/login", **browser)
    yield from query_probes("/", {"lang": "en"}, names=False, **browser)
    yield from query_probes("/account", {"lang": "en"}, names=False, **browser)
    yield from header_probes("GET", "/account", ("Cookie", "User-Agent", "Accept-Language"))
    for odd in ODD_VALUES.values():
        escaped = quote_from_bytes(odd).encode()
        yield Probe("POST", b"/account/consents/" + escaped + b"/revoke", browser)
        yield Probe("GET", b"/static/" + escaped)
        yield Probe("GET", b"/no/such/" + escaped)


def admin_probes() -> Iterator[Probe]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}".encode()}
    for odd in [*ODD_VALUES.values(), CITIZEN_NID.encode()]:
        escaped = quote_from_bytes(odd).encode()
        for kind in (b"citizen", b"business", escaped):
            account = b"/admin/accounts/" + kind + b"/" + escaped
            yield Probe("GET", account + b"/lock", admin)
            yield Probe("POST", account + b"/unlock", admin)
    yield from body_probes("POST", f"/admin/accounts/citizen/{CITIZEN_NID}/unlock", admin)
    names = ("Authorization", "User-Agent")
    yield from header_probes("GET", f"/admin/accounts/citizen/{CITIZEN_NID}/lock", names)


def corpus(s: Subjects) -> Iterator[Probe]:
    yield from protocol_probes(s)
    yield from registration_probes(s)
    yield from page_probes(s)
    yield from admin_probes()
    # Bytes not even allowed unescaped in a request target.
    yield Probe("GET", b"/authorize?\xff\x00=\xfe")
    yield Probe("GET", b"/\xff\xfe/login")
    # Last: they end the browser's session.
    for path in ("/account/sessions/end-all", "/account/logout"):
        form = {"csrf_token": s.csrf}
        yield from form_probes(path, form, names=False, Cookie=s.cookie)


def probed_endpoints(app, probes: list[Probe]) -> set[str]:
    adapter = app.url_map.bind("localhost")
    endpoints = set()
    for probe in probes:
        try:
            endpoint, _ = adapter.match(probe.target.split(b"?")[0].decode(), probe.method)
        except (HTTPException, UnicodeDecodeError):
            continue  # unknown paths and methods are probed on purpose
        endpoints.add(endpoint)
    return endpoints


def test_no_malformed_request_gets_a_server_error_or_a_traceback(serve_provider_on):
    server = serve_provider_on(ADMIN_TOKEN=ADMIN_TOKEN, **GENEROUS_LIMITS)
    probes = list(corpus(prepare(server)))
    every_endpoint = {rule.endpoint for rule in server.app.url_map.iter_rules()}
    assert probed_endpoints(server.app, probes) == every_endpoint

    with captured_log() as log:
        answers = [(probe, send(server.url, probe)) for probe in probes]

    failures = [
        f"{answer.status} {probe}"
        for probe, answer in answers
        if answer.status >= 500 or TRACEBACK.search(answer.raw.decode("latin-1"))
    ]
    assert not failures, f"{len(failures)} of {len(probes)}:\n" + "\n".join(failures[:30])
    assert not tracebacks(log), "\n\n".join(tracebacks(log)[:3])


# -- each fix, on its own ----------------------------------------------------------------------


def get(server, path: str, **params) -> requests.Response:
    """A page in English, as a browser without redirects would get it."""
    return requests.get(
        server.url + path,
        params=params,
        cookies={"idp_lang": "en"},
        allow_redirects=False,
        timeout=10,
    )


def post_assertion(server, client_id: str, assertion: bytes | str) -> requests.Response:
    """A client_credentials request authenticated by this client assertion."""
    return requests.post(
        f"{server.url}/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        timeout=10,
    )


def authorize_params(client_id: str, **changes: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI}
    return {**params, "scope": "openid", "state": "st-1", **changes}


def test_unregistered_redirect_uri_with_a_quote_gets_the_error_page_not_a_redirect(
    serve_provider,
):
    server = serve_provider()
    client_id, _ = agency(server)

    with captured_log() as log:
        for uri in ('https://evil.example/"', "https://evil.example/\\", "https://evil.example/ë"):
            response = get(server, "/authorize", **authorize_params(client_id, redirect_uri=uri))

            assert response.status_code == 400, (uri, response.text[:300])
            assert "Location" not in response.headers
            assert "not registered for it" in response.text
    assert not tracebacks(log)


def test_odd_response_type_goes_to_the_registered_redirect_uri_in_plain_ascii(serve_provider):
    server = serve_provider()
    client_id, _ = agency(server)

    for response_type in ('co"de', "co\\de", "codë"):
        params = authorize_params(client_id, response_type=response_type)
        response = get(server, "/authorize", **params)

        assert response.status_code == 302, (response_type, response.text[:300])
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?")
        answer = query(location)
        assert answer["error"] == "unsupported_response_type"
        assert (answer["state"], answer["iss"]) == ("st-1", server.url)
        assert DESCRIPTION.match(answer["error_description"])


def test_repeated_parameter_with_an_odd_name_is_named_in_plain_ascii(serve_provider):
    server = serve_provider()
    client_id, secret = agency(server)
    name = 'sc"o\\pë'

    authorized = requests.get(
        f"{server.url}/authorize",
        params=[*authorize_params(client_id).items(), (name, "1"), (name, "2")],
        allow_redirects=False,
        timeout=10,
    )
    token = requests.post(
        f"{server.url}/token",
        data=[("grant_type", "client_credentials"), (name, "1"), (name, "2")],
        auth=(client_id, secret),
        timeout=10,
    )

    assert authorized.status_code == 302, authorized.text[:300]
    description = query(authorized.headers["Location"])["error_description"]
    assert description == "parameter 'sc?o?p?' is repeated or too long"
    assert token.status_code == 400, token.text[:300]
    assert token.json() == {
        "error": "invalid_request",
        "error_description": "parameter 'sc?o?p?' is repeated",
    }


def test_basic_credentials_that_are_not_ascii_or_hold_nul_are_invalid_client(serve_provider):
    server = serve_provider()

    for credentials in ("ëëë".encode(), base64.b64encode(b"a%00b:x"), base64.b64encode(b"a\x01:x")):
        response = requests.post(
            f"{server.url}/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": b"Basic " + credentials},
            timeout=10,
        )

        assert response.status_code == 401, response.text[:300]
        assert response.json()["error"] == "invalid_client"


def test_jose_errors_quoting_a_tokens_header_are_plain_ascii(serve_provider):
    """joserfc names the offending header value (kid, alg, crit) in its error."""
    server = serve_provider()
    client_id = agency_with_keys(server)
    headers = [{"alg": "RS256", "kid": 'k"\\'}, {"alg": 'RS"256'}, {"alg": "RS256", "crit": ['"']}]

    with captured_log() as log:
        for header in headers:
            hint = jwt_shaped(header, {"iss": server.url, "aud": client_id})
            claims = {"iss": client_id, "sub": client_id, "aud": server.url, "exp": 2**31}
            logout = get(server, "/logout", id_token_hint=hint)
            token = post_assertion(server, client_id, jwt_shaped(header, claims))

            assert logout.status_code == 400, (header, logout.text[:300])
            assert "The request cannot be completed" in logout.text
            assert token.status_code == 400, (header, token.text[:300])
            assert token.json()["error"] == "invalid_client"
            assert DESCRIPTION.match(token.json()["error_description"])
    assert not tracebacks(log)


def test_client_assertion_with_deeply_nested_claims_is_invalid_client(serve_provider):
    server = serve_provider()
    client_id = agency_with_keys(server)

    response = post_assertion(server, client_id, ODD_VALUES["deep-jwt-claims"])

    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == "invalid_client"


def test_client_assertion_from_a_client_without_keys_is_invalid_client(serve_provider):
    server = serve_provider()
    client_id, _ = agency(server)
    claims = {"iss": client_id, "sub": client_id, "aud": server.url, "exp": 2**31}

    response = post_assertion(server, client_id, jwt_shaped({"alg": "RS256"}, claims))

    assert response.status_code == 400, response.text[:300]
    assert response.json()["error"] == "invalid_client"


def test_deeply_nested_or_oversized_client_metadata_is_invalid_client_metadata(serve_provider):
    server = serve_provider()
    with server.app.app_context():
        initial_token = issue_initial_access_token("nesting", 10, 3600)
    registration = {"Authorization": f"Bearer {initial_token}"}
    registered = requests.post(
        f"{server.url}/oauth/register",
        json={"client_name": "Agency", "redirect_uris": [REDIRECT_URI]},
        headers=registration,
        timeout=10,
    ).json()
    management = {"Authorization": f"Bearer {registered['registration_access_token']}"}
    nested: dict = {"keys": []}
    for _ in range(20):
        nested = {"keys": [nested]}
    bodies = [
        DEEP_JSON,
        b"{" * 60_000,
        json.dumps({"client_name": "Agency", "redirect_uris": [REDIRECT_URI], "jwks": nested}),
        json.dumps({"client_name": "x" * 70_000}),
        # A string that never ends, full of escaped quotes: the depth check stays linear.
        b'{"client_name": "' + b'\\"' * 30_000,
    ]

    with captured_log() as log:
        for body in bodies:
            for method, path, headers in (
                ("POST", "/oauth/register", registration),
                ("PUT", f"/oauth/register/{registered['client_id']}", management),
            ):
                response = requests.request(
                    method,
                    server.url + path,
                    data=body,
                    headers={**headers, "Content-Type": "application/json"},
                    timeout=10,
                )

                assert response.status_code == 400, (path, body[:40], response.text[:300])
                assert response.json()["error"] == "invalid_client_metadata"
                assert response.elapsed.total_seconds() < 2
    assert not tracebacks(log)


def test_nul_anywhere_in_a_request_is_refused_before_the_database(serve_provider_on):
    """PostgreSQL text can hold no NUL: looking one up failed, a 500."""
    server = serve_provider_on(ADMIN_TOKEN=ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    requests_with_nul = [
        ("GET", "/authorize/continue?challenge=a%00", {}),
        ("GET", "/authorize?client_id=a%00&response_type=code", {}),
        ("GET", "/consent?consent_challenge=%00", {}),
        ("POST", "/token", {"data": {"grant_type": "client_credentials", "client_id": "\x00"}}),
        # Inside a client assertion's payload, the NUL reaches the client lookup unseen.
        (
            "POST",
            "/token",
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": jwt_shaped({"alg": "ES256"}, {"sub": "a\x00", "iss": "a"}),
                }
            },
        ),
        ("GET", "/oauth/register/a%00", {"headers": admin}),
        ("GET", f"/admin/accounts/citizen/{CITIZEN_NID}%00/lock", {"headers": admin}),
        ("GET", f"/admin/accounts/citizen/{CITIZEN_NID}/lock", {"headers": {"User-Agent": "\x00"}}),
    ]

    with captured_log() as log:
        answers = [
            requests.request(method, server.url + path, timeout=10, **options).status_code
            for method, path, options in requests_with_nul
        ]

    assert answers == [400] * len(requests_with_nul)
    assert not tracebacks(log)


def test_admin_api_answers_404_for_what_is_no_identifier(serve_provider_on):
    server = serve_provider_on(ADMIN_TOKEN=ADMIN_TOKEN)
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    with captured_log() as log:
        lock = requests.get(f"{server.url}/admin/accounts/citizen/{'J' * 300}/lock", headers=admin)
        unlock = requests.post(
            f"{server.url}/admin/accounts/business/{'x' * 65}/unlock", headers=admin
        )

    assert (lock.status_code, unlock.status_code) == (404, 404)
    assert not tracebacks(log)


def test_registration_with_a_250_character_email_keeps_the_address_out_of_keys_and_log(
    serve_provider_on,
):
    """Store keys name a destination by a keyed digest (sends-to:...), never the address, which
    would overflow the key column on PostgreSQL and end in the log with the failed query."""
    server = serve_provider_on()
    email = "arta." + "x" * 233 + "@example.org"
    assert len(email) == 250
    browser = requests.Session()
    browser.cookies.set("idp_lang", "en")
    fields = {**registration_fields(), "email": email, "phone": "0039 312 345 6789"}

    with captured_log() as log:
        page = browser.get(f"{server.url}/register", timeout=10)
        sent = browser.post(
            f"{server.url}/register",
            data={"csrf_token": csrf_token(page.text), **fields},
            allow_redirects=False,
            timeout=10,
        )
        with server.app.app_context():
            keys = list(db.session.execute(select(ShortLivedState.key)).scalars())
        code_page = browser.get(f"{server.url}/code", timeout=10)
        done = browser.post(
            f"{server.url}/code",
            data={"csrf_token": csrf_token(code_page.text), "otp": last_code(server.app, email)},
            allow_redirects=False,
            timeout=10,
        )

    assert sent.status_code == 303, sent.text[:500]
    assert done.status_code == 200, done.text[:500]
    assert "is active" in done.text
    local_part = email.split("@")[0]
    assert any(key.startswith("sends-to:") for key in keys)
    assert not [key for key in keys if local_part in key]
    assert not [record for record in log if local_part in record]
    assert not tracebacks(log)
