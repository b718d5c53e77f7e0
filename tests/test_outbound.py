"""Calls the provider makes to URLs that relying parties registered (back-channel logout) cannot
be aimed inside the network (SSRF), and reach healthy relying parties whatever others do."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from test_oauth_registration import initial_token, register

from idp import outbound
from idp.cli import create_user
from idp.models import AuditEvent, Client, User, db
from idp.oauth import backchannel

from conftest import ARTA
from oauth_helpers import wait_for

INTERNAL_URIS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://100.100.100.200/latest/meta-data/",
    "https://10.0.0.5/logout",
    "https://192.168.1.1/logout",
    "https://172.16.0.1/logout",
    "https://127.0.0.1/logout",
    "https://localhost/logout",
    "https://[::1]/logout",
    "https://[::ffff:127.0.0.1]/logout",
    "https://[fe80::1]/logout",
    "https://[fd12:3456::1]/logout",
    "https://224.0.0.1/logout",
    "https://0.0.0.0/logout",
    "https://[2002:a00:1::]/logout",  # 6to4 around 10.0.0.1
]


def _audited(app) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent).where(AuditEvent.event == "logout.backchannel")
            ).scalars()
        )


@pytest.fixture
def resolver(monkeypatch):
    """Host names the test decides the addresses of, as DNS would; counts the lookups."""
    real = socket.getaddrinfo
    names: dict[str, str] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            lookups.append(host)
            return real(names[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names, lookups


@pytest.mark.parametrize("uri", INTERNAL_URIS)
def test_registration_refuses_back_channel_uris_inside_the_network(serve_provider, uri):
    provider = serve_provider(OUTBOUND_ALLOW=[])
    answer = register(provider, initial_token(provider.app), backchannel_logout_uri=uri)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client_metadata"
    assert "backchannel_logout_uri" in answer.json()["error_description"]


def test_registration_refuses_a_name_that_resolves_inside(serve_provider, resolver):
    names, _ = resolver
    names["logout.agency.example"] = "10.1.2.3"
    provider = serve_provider(OUTBOUND_ALLOW=[])
    uri = "https://logout.agency.example/logout"
    answer = register(provider, initial_token(provider.app), backchannel_logout_uri=uri)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize(
    ("allow", "uri"),
    [
        (["10.1.2.0/24"], "https://10.1.2.3/logout"),
        (["10.1.2.0/24"], "https://logout.agency.example/logout"),
        (["logout.agency.example"], "https://logout.agency.example/logout"),
    ],
)
def test_the_operator_allows_internal_agencies(serve_provider, resolver, allow, uri):
    names, _ = resolver
    names["logout.agency.example"] = "10.1.2.3"
    provider = serve_provider(OUTBOUND_ALLOW=allow)
    answer = register(provider, initial_token(provider.app), backchannel_logout_uri=uri)
    assert answer.status_code == 201, answer.text


def test_cloud_metadata_stays_refused_inside_an_allowed_network(serve_provider):
    provider = serve_provider(OUTBOUND_ALLOW=["169.254.0.0/16", "100.64.0.0/10"])
    for uri in ("https://169.254.169.254/latest/", "https://100.100.100.200/latest/"):
        answer = register(provider, initial_token(provider.app), backchannel_logout_uri=uri)
        assert answer.status_code == 400, uri
    allowed = register(
        provider, initial_token(provider.app), backchannel_logout_uri="https://169.254.10.10/l"
    )
    assert allowed.status_code == 201


def test_development_allows_loopback_for_the_demo_apps(serve_provider):
    provider = serve_provider(ENV="development", OUTBOUND_ALLOW=[])
    answer = register(
        provider,
        initial_token(provider.app),
        backchannel_logout_uri="http://127.0.0.1:5002/backchannel-logout",
        redirect_uris=["http://127.0.0.1:5002/callback"],
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host!", ""])
def test_a_bad_allow_list_entry_stops_the_provider(make_app, entry):
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_OUTBOUND_ALLOW"):
        make_app(OUTBOUND_ALLOW=[entry])


class Receiver:
    """A relying party's back-channel logout endpoint on loopback; records each request with
    the time it came in, answers from a script, or hangs while `hang` is set."""

    def __init__(self, answers=(), body: bytes = b"") -> None:
        self.requests: list[tuple[float, dict, str]] = []  # (time, headers, logout token)
        self.answers = list(answers)
        self.body = body
        self.hang = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                token = form["logout_token"][0]
                receiver.requests.append((time.time(), dict(self.headers), token))
                while receiver.hang.is_set():
                    time.sleep(0.05)
                status = receiver.answers.pop(0) if receiver.answers else 200
                try:
                    self.send_response(status)
                    if status in (301, 302, 307, 308):
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", str(len(receiver.body)))
                    self.end_headers()
                    self.wfile.write(receiver.body)
                except OSError:
                    pass  # the provider gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.hang.clear()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(**options) -> Receiver:
        started.append(Receiver(**options))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def account(app) -> int:
    with app.app_context():
        return create_user(**ARTA).id


def _notify(app, account: int, clients, sid: str = "sid-1") -> None:
    with app.app_context():
        user = db.session.get(User, account)
        backchannel.notify(user, sid, [client.client_id for client in clients])


def test_sending_refuses_an_address_that_dns_moved_inside(app, register_client, resolver, account):
    names, _ = resolver
    names["logout.agency.example"] = "127.0.0.1"
    rp, _ = register_client(backchannel_logout_uri="https://logout.agency.example/logout")
    names["logout.agency.example"] = "169.254.169.254"  # after the operator approved it
    _notify(app, account, [rp])
    wait_for(lambda: _audited(app))
    (event,) = _audited(app)
    assert event.outcome == "failed"
    assert "metadata" in event.detail["reason"]


def test_the_address_checked_is_the_address_called(
    app, register_client, resolver, account, receivers
):
    names, lookups = resolver
    receiver = receivers()
    names["logout.agency.example"] = "127.0.0.1"
    rp, _ = register_client(backchannel_logout_uri=receiver.url)
    with app.app_context():
        # Plain http to a name: only this test's receiver, which has no TLS, needs it.
        db.session.get(
            Client, rp.id
        ).backchannel_logout_uri = (
            f"http://logout.agency.example:{receiver.port}/backchannel-logout"
        )
        db.session.commit()
    lookups.clear()
    _notify(app, account, [rp])
    wait_for(lambda: receiver.requests)
    wait_for(lambda: _audited(app))
    # One lookup, checked, then connected to: a second lookup could answer differently.
    assert lookups == ["logout.agency.example"]
    assert receiver.requests[0][1]["Host"] == f"logout.agency.example:{receiver.port}"
    assert _audited(app)[0].outcome == "ok"


def test_redirects_are_not_followed(app, register_client, account, receivers):
    receiver = receivers(answers=(307,))
    rp, _ = register_client(backchannel_logout_uri=receiver.url)
    _notify(app, account, [rp])
    wait_for(lambda: _audited(app))
    (event,) = _audited(app)
    assert event.outcome == "failed" and event.detail["reason"] == "answered 307"
    assert len(receiver.requests) == 1


def test_a_large_answer_is_read_only_up_to_the_cap(receivers):
    receiver = receivers(body=b"x" * (4 * outbound.MAX_ANSWER_BYTES))
    policy = outbound.Policy(networks=outbound.parse_allow_list(["127.0.0.1/32"])[0])
    answer = outbound.post_form(receiver.url, {"logout_token": "t"}, policy)
    assert answer.status == 200 and len(answer.body) == outbound.MAX_ANSWER_BYTES
    with pytest.raises(outbound.Refused):
        outbound.post_form(receiver.url, {"logout_token": "t"}, outbound.Policy())


def test_a_retry_sends_a_freshly_signed_token(app, register_client, account, receivers):
    receiver = receivers(answers=(503,))
    rp, _ = register_client(backchannel_logout_uri=receiver.url)
    _notify(app, account, [rp])
    wait_for(lambda: len(receiver.requests) == 2)
    keys = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    first, second = (jwt.decode(token, keys).claims for _, _, token in receiver.requests)
    assert first["jti"] != second["jti"]
    assert second["iat"] >= first["iat"] + 1  # signed when the retry was sent


def test_a_hanging_relying_party_does_not_delay_the_others(
    app, register_client, account, receivers, monkeypatch
):
    monkeypatch.setattr(outbound, "READ_TIMEOUT", 2.0)
    stuck, healthy = receivers(), receivers()
    stuck.hang.set()
    stuck_rp, _ = register_client(backchannel_logout_uri=stuck.url)
    healthy_rp, _ = register_client(backchannel_logout_uri=healthy.url)
    logouts = 40
    for number in range(logouts):
        _notify(app, account, [stuck_rp, healthy_rp], sid=f"sid-{number}")
    # Every healthy logout arrives, each token still valid, however long the stuck one takes.
    wait_for(lambda: len(healthy.requests) == logouts, seconds=10)
    keys = KeySet.import_key_set(app.test_client().get("/jwks.json").get_json())
    for received_at, _, token in healthy.requests:
        assert jwt.decode(token, keys).claims["exp"] > received_at


def test_a_hanging_relying_party_cannot_fill_the_schedule_for_the_others(
    app, register_client, account, receivers, monkeypatch
):
    monkeypatch.setattr(backchannel, "DESTINATION_CAPACITY", 3)
    stuck = receivers()
    stuck.hang.set()
    stuck_rp, _ = register_client(backchannel_logout_uri=stuck.url)
    for number in range(10):
        _notify(app, account, [stuck_rp], sid=f"sid-{number}")
    dropped = [e for e in _audited(app) if e.detail["reason"] == "queue full"]
    # One attempt in flight, three waiting: the rest are dropped, and audited.
    assert len(dropped) >= 6
