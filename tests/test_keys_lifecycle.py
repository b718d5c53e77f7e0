"""Signing keys through their lifecycle: published before they sign, kept until their tokens
expire, revoked at once, switched together by every node. Over real HTTP where relying parties
and nodes would notice."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import config
from idp.cli import create_client
from idp.config import SIGNING_ALGORITHMS, ConfigError
from idp.keys_cli import keys
from idp.keystore import CURRENT, NEXT, RETIRED, REVOKED, KeyPolicy, KeyStore
from idp.models import AuditEvent, db

from conftest import CITIZEN_NID, TEST_SETTINGS, free_port
from oauth_helpers import authorize_url, code_grant, follow_to_code, new_sign_in, pkce_pair

# Our EdDSA keys are Ed25519, what RFC 9864 calls the algorithm now (see idp.keystore).
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

REPOSITORY = Path(__file__).resolve().parent.parent
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
TIMEOUT = 10


def invoke_keys(app, *args: str):
    """`idp keys ...` as an operator runs it."""
    if "keys" not in app.cli.commands:
        app.cli.add_command(keys)
    return app.test_cli_runner().invoke(args=["keys", *args])


def run_keys(app, *args: str) -> str:
    """The output of `idp keys ...`, after checking that it succeeded."""
    result = invoke_keys(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


def kid_of(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def published_kids(base_url: str) -> set[str]:
    jwks = requests.get(f"{base_url}/jwks.json", timeout=TIMEOUT).json()
    return {key["kid"] for key in jwks["keys"]}


@contextmanager
def critical_log() -> Iterator[list[logging.LogRecord]]:
    """The key store's critical log records while the block runs."""
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("idp.keystore")
    handler = logging.Handler(logging.CRITICAL)
    handler.emit = records.append
    # Alembic's logging set-up (the migrations of the session's template database) disables
    # the loggers that exist by then; a provider process never runs it.
    disabled, logger.disabled = logger.disabled, False
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.disabled = disabled


def audit_events(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent).where(AuditEvent.event == event)).scalars()
        )


class RelyingParty:
    """How a relying party verifies our tokens: the JWKS cached, fetched again on an unknown kid
    (OIDC Core §10.1.1)."""

    def __init__(self, issuer: str):
        self.jwks_uri = f"{issuer}/jwks.json"
        self.fetches = 0
        self.keys = self._fetch()

    def _fetch(self) -> KeySet:
        self.fetches += 1
        return KeySet.import_key_set(requests.get(self.jwks_uri, timeout=TIMEOUT).json())

    def verify(self, token: str) -> dict:
        try:
            return jwt.decode(token, self.keys, algorithms=list(SIGNING_ALGORITHMS)).claims
        except InvalidKeyIdError:
            self.keys = self._fetch()
            return jwt.decode(token, self.keys, algorithms=list(SIGNING_ALGORITHMS)).claims


class Backend:
    """An agency back end with client_credentials: gets tokens and introspects them."""

    def __init__(self, app):
        with app.app_context():
            client, self.secret = create_client(
                name="Agency back end",
                grant_types=["client_credentials"],
                scopes=["registry.read"],
            )
            self.client_id = client.client_id

    @property
    def auth(self) -> tuple[str, str]:
        return self.client_id, self.secret

    def token(self, base_url: str, session=requests) -> str:
        response = session.post(
            f"{base_url}/token",
            data={"grant_type": "client_credentials", "scope": "registry.read"},
            auth=self.auth,
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def introspect(self, base_url: str, token: str, session=requests) -> dict:
        response = session.post(
            f"{base_url}/introspect", data={"token": token}, auth=self.auth, timeout=TIMEOUT
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def own_keys(tmp_path) -> Path:
    """A key store of the test's own: rotations here never touch the session's keys."""
    return tmp_path / "keys"


def signing_kid(app, alg: str = "RS256") -> str:
    return app.extensions["idp.keystore"].signing_key(alg).kid


# -- The lifecycle's timing ---------------------------------------------------------------------


def policy(**changes) -> KeyPolicy:
    values = {
        "algorithms": ("RS256",),
        "publish_ahead": 305,  # JWKS_MAX_AGE 300 + KEYS_CHECK_INTERVAL 5
        "retain": 605,  # the longest token lifetime 600 + KEYS_CHECK_INTERVAL 5
        "rotation_age": 90 * 86400,
        "check_interval": 0,
    }
    return KeyPolicy(**{**values, **changes})


def test_a_next_key_is_published_before_it_signs_and_retired_keys_last_as_their_tokens(own_keys):
    store = KeyStore(own_keys, b"passphrase", policy())
    store.ensure_current()
    old = store.signing_key("RS256")
    # Times chosen so that the retired key's removal time lies ahead of the real clock, which
    # decides what the JWKS holds.
    start = int(time.time()) - 400

    [published] = store.rotate("RS256", now=start)
    upcoming = published.key
    assert (upcoming.state, upcoming.activates_at) == (NEXT, start + 305)
    assert upcoming.kid in {key["kid"] for key in store.public_jwks()["keys"]}
    assert store.signing_key("RS256").kid == old.kid

    # Before every JWKS cache can have it, a rotation step does nothing.
    assert store.rotate("RS256", now=start + 304) == []
    assert store.signing_key("RS256").kid == old.kid

    [rotated] = store.rotate("RS256", now=start + 305)
    assert (rotated.event, rotated.key.kid, rotated.previous.kid) == (
        "key.rotated",
        upcoming.kid,
        old.kid,
    )
    assert store.signing_key("RS256").kid == upcoming.kid
    retired = rotated.previous
    assert (retired.state, retired.removes_at) == (RETIRED, start + 305 + 605)
    assert retired.removes_at > time.time()
    assert old.kid in {key["kid"] for key in store.public_jwks()["keys"]}

    # Until every token it signed has expired, and no longer.
    assert store.rotate_if_due("RS256", now=retired.removes_at - 1) == []
    [removed] = store.rotate_if_due("RS256", now=retired.removes_at)
    assert (removed.event, removed.key.kid) == ("key.removed", old.kid)
    assert not (own_keys / f"{old.kid}.json").exists()
    assert old.kid not in {key["kid"] for key in store.public_jwks()["keys"]}


def test_a_retired_key_leaves_the_jwks_when_due_even_before_its_file_is_removed(own_keys):
    store = KeyStore(own_keys, b"passphrase", policy())
    store.ensure_current()
    old = store.signing_key("RS256").kid
    long_ago = int(time.time()) - 5000
    store.rotate_now("RS256", now=long_ago)  # retired then, so its tokens expired long ago
    assert (own_keys / f"{old}.json").exists()
    assert old not in {key["kid"] for key in store.public_jwks()["keys"]}
    with pytest.raises(InvalidKeyIdError):
        store.public_keyset().get_by_kid(old, {"alg": "RS256"})


def test_rotate_if_due_follows_the_rotation_age(own_keys):
    store = KeyStore(own_keys, b"passphrase", policy())
    store.ensure_current()
    born = store.signing_key("RS256").activates_at
    age = 90 * 86400

    assert store.rotate_if_due("RS256", now=born + age - 1) == []
    [published] = store.rotate_if_due("RS256", now=born + age)
    assert (published.event, published.key.state) == ("key.created", NEXT)
    # The timer's next run switches to it once JWKS caches have it; not before.
    assert store.rotate_if_due("RS256", now=born + age + 304) == []
    [rotated] = store.rotate_if_due("RS256", now=born + age + 305)
    assert rotated.event == "key.rotated"
    assert store.rotate_if_due("RS256", now=born + age + 306) == []


def test_rotate_if_due_exits_zero_and_says_what_it_did(make_app, own_keys):
    app = make_app(KEYS_DIR=str(own_keys))
    output = run_keys(app, "rotate", "--if-due", "--alg", "RS256")
    assert "RS256: nothing due: current key" in output
    assert "rotation at 90" in output


# -- Tokens across a rotation, on real HTTP -----------------------------------------------------


def test_tokens_signed_before_a_rotation_stay_valid_after_it(serve_provider, own_keys):
    # A JWKS cache lifetime of zero: the next key may sign as soon as it is published.
    provider = serve_provider(KEYS_DIR=str(own_keys), JWKS_MAX_AGE=0, KEYS_CHECK_INTERVAL=0)
    client_id, secret, code, verifier = new_sign_in(provider.app)
    before = requests.post(
        f"{provider.url}/token",
        data=code_grant(code, verifier),
        auth=(client_id, secret),
        timeout=TIMEOUT,
    ).json()
    old_kid = kid_of(before["access_token"])

    assert "published next key" in run_keys(provider.app, "rotate", "--alg", "RS256")
    assert "signs now" in run_keys(provider.app, "rotate", "--alg", "RS256")
    new_kid = signing_kid(provider.app)
    assert new_kid != old_kid

    bearer = {"Authorization": f"Bearer {before['access_token']}"}
    assert requests.get(f"{provider.url}/userinfo", headers=bearer, timeout=TIMEOUT).ok
    introspection = requests.post(
        f"{provider.url}/introspect",
        data={"token": before["access_token"]},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    ).json()
    assert introspection["active"] is True
    assert RelyingParty(provider.url).verify(before["id_token"])["aud"] == client_id
    # The refresh token outlives the key that signed its first tokens.
    refreshed = requests.post(
        f"{provider.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]},
        auth=(client_id, secret),
        timeout=TIMEOUT,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert kid_of(refreshed.json()["access_token"]) == new_kid


def test_a_relying_party_with_a_cached_jwks_fetches_it_again_on_an_unknown_kid(
    serve_provider, own_keys
):
    provider = serve_provider(KEYS_DIR=str(own_keys))
    backend = Backend(provider.app)
    relying_party = RelyingParty(provider.url)
    before = backend.token(provider.url)
    relying_party.verify(before)
    assert relying_party.fetches == 1

    output = run_keys(provider.app, "rotate", "--now", "--alg", "RS256")
    assert "signs now" in output
    after = backend.token(provider.url)
    assert kid_of(after) != kid_of(before)
    assert kid_of(after) not in {key.kid for key in relying_party.keys}

    assert relying_party.verify(after)["client_id"] == backend.client_id
    assert relying_party.fetches == 2
    relying_party.verify(before)  # the old key is still published, now retired
    assert relying_party.fetches == 2


def test_the_jwks_publishes_next_current_and_retired_keys_with_public_parameters_only(
    serve_provider, own_keys
):
    provider = serve_provider(KEYS_DIR=str(own_keys))
    first = requests.get(f"{provider.url}/jwks.json", timeout=TIMEOUT)
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert {key["alg"] for key in first.json()["keys"]} == set(SIGNING_ALGORITHMS)
    old = signing_kid(provider.app)
    run_keys(provider.app, "rotate", "--now", "--alg", "RS256")
    run_keys(provider.app, "rotate", "--alg", "RS256")  # and a next key after it

    second = requests.get(f"{provider.url}/jwks.json", timeout=TIMEOUT)
    states = {key.kid: key.state for key in provider.app.extensions["idp.keystore"].all_keys()}
    rs256 = {
        key["kid"]: states[key["kid"]] for key in second.json()["keys"] if key["alg"] == "RS256"
    }
    assert sorted(rs256.values()) == [CURRENT, NEXT, RETIRED] and rs256[old] == RETIRED
    for key in second.json()["keys"]:
        assert not PRIVATE_MEMBERS & set(key)
        assert key["use"] == "sig" and key["kid"] and key["alg"]
    assert second.headers["ETag"] != first.headers["ETag"]
    unchanged = requests.get(
        f"{provider.url}/jwks.json",
        headers={"If-None-Match": second.headers["ETag"]},
        timeout=TIMEOUT,
    )
    assert unchanged.status_code == 304


# -- Revocation ---------------------------------------------------------------------------------


def test_a_revoked_keys_tokens_fail_introspection_and_userinfo_at_once(
    serve_provider, make_app, own_keys
):
    provider = serve_provider(KEYS_DIR=str(own_keys), KEYS_CHECK_INTERVAL=1)
    # The operator's command runs in a process of its own, like another node.
    operator = make_app(KEYS_DIR=str(own_keys))
    backend = Backend(provider.app)
    service_token = backend.token(provider.url)
    client_id, secret, code, verifier = new_sign_in(provider.app)
    user_token = requests.post(
        f"{provider.url}/token",
        data=code_grant(code, verifier),
        auth=(client_id, secret),
        timeout=TIMEOUT,
    ).json()["access_token"]
    stolen = kid_of(service_token)
    assert kid_of(user_token) == stolen
    assert backend.introspect(provider.url, service_token)["active"] is True

    with critical_log() as alarms:
        revoked_at = time.monotonic()
        output = run_keys(operator, "revoke", stolen)
    assert f"REVOKED {stolen}" in output
    assert any(stolen in record.getMessage() for record in alarms)

    # Every node acts on it within its check interval (one second here), without a restart.
    time.sleep(max(0.0, 1.05 - (time.monotonic() - revoked_at)))
    assert backend.introspect(provider.url, service_token) == {"active": False}
    userinfo = requests.get(
        f"{provider.url}/userinfo",
        headers={"Authorization": f"Bearer {user_token}"},
        timeout=TIMEOUT,
    )
    assert userinfo.status_code == 401
    assert stolen not in published_kids(provider.url)
    # The algorithm has a new current key already: tokens keep being issued.
    fresh = backend.token(provider.url)
    assert kid_of(fresh) not in (stolen, None)
    assert backend.introspect(provider.url, fresh)["active"] is True
    [event] = audit_events(operator, "key.revoked")
    assert (event.outcome, event.detail["kid"]) == ("revoked", stolen)
    states = {key.kid: key.state for key in operator.extensions["idp.keystore"].all_keys()}
    assert states[stolen] == REVOKED and states[kid_of(fresh)] == CURRENT


def test_a_lost_current_key_is_replaced_at_once_and_audited(make_app, own_keys):
    app = make_app(KEYS_DIR=str(own_keys), KEYS_CHECK_INTERVAL=0)
    backend = Backend(app)
    lost = signing_kid(app)
    (own_keys / f"{lost}.json").unlink()  # an incomplete restore, a slip of the hand

    response = app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "registry.read"},
        auth=backend.auth,
    )
    assert response.status_code == 200
    assert kid_of(response.get_json()["access_token"]) not in (lost, None)
    deadline = time.monotonic() + 5
    while not audit_events(app, "key.created") and time.monotonic() < deadline:
        time.sleep(0.05)
    [event] = audit_events(app, "key.created")
    assert (event.outcome, event.detail["alg"]) == ("emergency", "RS256")


# -- Algorithms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["PS256", "EdDSA"])
def test_clients_get_id_tokens_in_the_algorithm_they_registered(
    client, citizen, register_client, alg
):
    registered, secret = register_client(id_token_alg=alg, first_party=True)
    verifier, challenge = pkce_pair()
    params = follow_to_code(
        client, authorize_url(registered.client_id, challenge=challenge), CITIZEN_NID
    )
    body = client.post(
        "/token",
        data=code_grant(params["code"], verifier),
        auth=(registered.client_id, secret),
    ).get_json()
    keys_published = KeySet.import_key_set(client.get("/jwks.json").get_json())
    token = jwt.decode(body["id_token"], keys_published, algorithms=[alg])
    assert token.header["alg"] == alg
    assert token.claims["aud"] == registered.client_id
    # Access tokens keep the resource servers' algorithm.
    assert jws.extract_compact(body["access_token"].encode()).headers()["alg"] == "RS256"


@pytest.mark.parametrize(
    "settings",
    [
        {"KEY_ALGORITHMS": ["ES256"]},  # OIDC Core §15.1: RS256 always
        {"KEY_ALGORITHMS": ["RS256", "HS256"]},
        {"KEY_ALGORITHMS": ["RS256"], "ID_TOKEN_SIGNING_ALG": "EdDSA"},
        {"KEYS_CHECK_INTERVAL": -1},
        {"KEY_ROTATION_AGE": 0},
    ],
)
def test_key_settings_are_checked_at_start_up(settings):
    with pytest.raises(ConfigError, match="IDP_KEY"):
        config.validate({**config.DEFAULTS, **settings})


# -- Operator commands --------------------------------------------------------------------------


def test_list_import_and_export(make_app, own_keys, tmp_path):
    app = make_app(KEYS_DIR=str(own_keys))
    listing = run_keys(app, "list").splitlines()
    assert listing[0].split() == [
        "KID",
        "ALG",
        "STATE",
        "CREATED",
        "ACTIVATES",
        "RETIRES",
        "REMOVES",
    ]
    assert len(listing) == 1 + len(SIGNING_ALGORITHMS)

    pem_file = tmp_path / "ps256.pem"
    pem_file.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"hsm export passphrase"),
        )
    )
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text("hsm export passphrase\n")
    output = run_keys(
        app, "import", str(pem_file), "--alg", "PS256", "--passphrase-file", str(passphrase_file)
    )
    assert "imported" in output
    [imported] = [k for k in app.extensions["idp.keystore"].all_keys() if k.state == NEXT]
    assert imported.alg == "PS256"
    stored = json.loads((own_keys / f"{imported.kid}.json").read_text())
    # Re-encrypted with the store's passphrase, not the file's.
    serialization.load_pem_private_key(
        stored["private_key"].encode(), TEST_SETTINGS["KEY_PASSPHRASE"].encode()
    )
    assert any(
        line.split()[:3] == [imported.kid, "PS256", "next"]
        for line in run_keys(app, "list").splitlines()
    )

    exported = json.loads(run_keys(app, "export", "--public"))
    assert imported.kid in {key["kid"] for key in exported["keys"]}
    assert not any(PRIVATE_MEMBERS & set(key) for key in exported["keys"])
    refused = invoke_keys(app, "export")
    assert refused.exit_code != 0
    assert [e.outcome for e in audit_events(app, "key.imported")] == ["ok"]
    assert [e.outcome for e in audit_events(app, "key.exported")] == ["ok"]


def test_list_marks_only_a_key_past_its_rotation_age_as_due(make_app, own_keys):
    # RS256's key has signed for 91 days, past the rotation age of 90; the others are new.
    store = KeyStore(own_keys, TEST_SETTINGS["KEY_PASSPHRASE"].encode(), policy())
    store.rotate_now("RS256", now=int(time.time()) - 91 * 86400)
    old = store.signing_key("RS256")
    app = make_app(KEYS_DIR=str(own_keys))
    header, *rows = run_keys(app, "list").splitlines()
    assert len(rows) == len(SIGNING_ALGORITHMS)
    due = [row for row in rows if "(due)" in row]
    assert [row.split()[:3] for row in due] == [[old.kid, "RS256", "current"]]
    # The others show when they will be due, without the mark.
    retires = header.index("RETIRES")
    assert all(row[retires:].split()[0] > "2000" for row in rows)


def test_import_refuses_a_key_of_the_wrong_kind(make_app, own_keys, tmp_path):
    app = make_app(KEYS_DIR=str(own_keys))
    pem_file = tmp_path / "small.pem"
    pem_file.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(  # noqa: S505 - refused, the point of the test
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for alg in ("RS256", "EdDSA"):
        result = invoke_keys(app, "import", str(pem_file), "--alg", alg)
        assert result.exit_code != 0 and "needs" in result.output


# -- Two provider processes sharing one key store -----------------------------------------------


class Node:
    """A provider process (`flask --app idp run`), one node of a deployment."""

    def __init__(self, environment: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "idp", "run", "--port", str(self.port)],
            env=environment,
            cwd=REPOSITORY,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log = log

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                requests.get(f"{self.url}/jwks.json", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"{self.url} did not start: {self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._log.close()


def node_environment(app, own_keys: Path, **changes: str) -> dict[str, str]:
    """What a node of the test deployment runs with: the app's database and the key store."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    environment.update(
        {
            "IDP_ENV": "testing",
            "IDP_ISSUER": app.config["ISSUER"],
            "IDP_SECRET_KEY": TEST_SETTINGS["SECRET_KEY"],
            "IDP_PAIRWISE_SALT": TEST_SETTINGS["PAIRWISE_SALT"],
            "IDP_KEY_PASSPHRASE": TEST_SETTINGS["KEY_PASSPHRASE"],
            "IDP_INSTANCE_PATH": app.instance_path,
            "IDP_KEYS_DIR": str(own_keys),
            "IDP_JWKS_MAX_AGE": str(app.config["JWKS_MAX_AGE"]),
            "IDP_KEYS_CHECK_INTERVAL": str(app.config["KEYS_CHECK_INTERVAL"]),
            **changes,
        }
    )
    return environment


class Load:
    """Token requests to each node in a loop, each token introspected at the other node."""

    def __init__(self, backend: Backend, nodes: list[Node]):
        self.backend = backend
        self.issued: list[tuple[str, float, str, str]] = []  # (node url, when, kid, token)
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(node.url, other.url))
            for node, other in zip(nodes, reversed(nodes), strict=True)
        ]

    def _run(self, url: str, other: str) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    token = self.backend.token(url, session)
                    if self.backend.introspect(other, token, session).get("active") is not True:
                        self.failures.append(f"{other} did not accept a token from {url}")
                    self.issued.append((url, time.monotonic(), kid_of(token), token))
                except (AssertionError, requests.RequestException) as error:
                    self.failures.append(f"{url}: {error}")

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def first_signed_with(self, url: str, kid: str) -> float | None:
        return next((when for u, when, k, _ in list(self.issued) if (u, k) == (url, kid)), None)

    def wait_until_every_node_signs_with(self, nodes: list[Node], kid: str) -> list[float]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            times = [self.first_signed_with(node.url, kid) for node in nodes]
            if None not in times:
                return times
            time.sleep(0.05)
        raise AssertionError(f"not every node signs with {kid}")


def test_two_provider_processes_sharing_the_key_store_switch_keys_together(
    make_app, own_keys, tmp_path
):
    # One node's settings: JWKS cached for 1 s, the key directory looked at every second.
    operator = make_app(KEYS_DIR=str(own_keys), JWKS_MAX_AGE=1, KEYS_CHECK_INTERVAL=1)
    backend = Backend(operator)
    store = operator.extensions["idp.keystore"]
    nodes = [Node(node_environment(operator, own_keys), tmp_path / f"node-{n}.log") for n in (1, 2)]
    try:
        for node in nodes:
            node.wait_until_serving()
        with Load(backend, nodes) as load:
            old = store.signing_key("RS256").kid
            load.wait_until_every_node_signs_with(nodes, old)

            # Scheduled rotation: the next key is published by every node before it signs.
            run_keys(operator, "rotate", "--alg", "RS256")
            [upcoming] = [k for k in store.all_keys() if k.alg == "RS256" and k.state == NEXT]
            deadline = time.monotonic() + 5
            while not all(upcoming.kid in published_kids(node.url) for node in nodes):
                assert time.monotonic() < deadline, "the next key was not published by every node"
                time.sleep(0.05)
            assert "nothing due" in run_keys(operator, "rotate", "--alg", "RS256")
            time.sleep(max(0.0, upcoming.activates_at - time.time()))
            assert "signs now" in run_keys(operator, "rotate", "--alg", "RS256")
            promoted_at = time.monotonic()
            switched = load.wait_until_every_node_signs_with(nodes, upcoming.kid)
            assert max(switched) - promoted_at < 2.5

            # Emergency rotation: a new key signs at once; the other node has never seen it
            # when the first tokens signed with it reach its introspection endpoint.
            run_keys(operator, "rotate", "--now", "--alg", "RS256")
            emergency = store.signing_key("RS256").kid
            promoted_at = time.monotonic()
            switched = load.wait_until_every_node_signs_with(nodes, emergency)
            assert max(switched) - promoted_at < 2.5
            time.sleep(0.2)
        documents = [requests.get(f"{node.url}/jwks.json", timeout=TIMEOUT) for node in nodes]
    finally:
        for node in nodes:
            node.stop()

    assert load.failures == []
    assert {kid for _, _, kid, _ in load.issued} == {old, upcoming.kid, emergency}
    # Both nodes publish the same document; every token issued verifies against it.
    assert len({document.headers["ETag"] for document in documents}) == 1
    published = KeySet.import_key_set(documents[0].json())
    for _, _, _, token in load.issued:
        claims = jwt.decode(token, published, algorithms=["RS256"]).claims
        assert claims["iss"] == operator.config["ISSUER"]


def test_a_wrong_key_passphrase_stops_a_provider_process_with_a_clear_message(
    make_app, own_keys, tmp_path
):
    app = make_app(KEYS_DIR=str(own_keys))
    environment = node_environment(app, own_keys, IDP_KEY_PASSPHRASE="not the passphrase")
    node = Node(environment, tmp_path / "node.log")
    try:
        assert node.process.wait(timeout=30) != 0
    finally:
        node.stop()
    log = node.log.read_text()
    assert "cannot decrypt signing key" in log
    assert "wrong IDP_KEY_PASSPHRASE (or IDP_KEY_PASSPHRASE_FILE)" in log
