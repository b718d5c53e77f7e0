"""Shared fixtures: a provider app on a fresh migrated database, cheap hashes, real servers."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from idp import create_app
from idp.cli import create_client, create_user
from idp.models import db

PASSWORD = "correct horse battery staple"
CITIZEN_NID = "J00101999W"
BUSINESS_NIPT = "K22218003V"
# Arta, the citizen most tests sign in as: an Albanian phone, so codes go by SMS and e-mail.
ARTA = {
    "kind": "citizen",
    "identifier": CITIZEN_NID,
    "password": PASSWORD,
    "given_name": "Arta",
    "family_name": "Demo",
    "email": "arta@example.org",
    "phone": "+355690000001",
}

# Cheap argon2id for speed; test_security checks that the production defaults stay at least
# OWASP's minimum.
TEST_SETTINGS = {
    "ENV": "testing",
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    "PAIRWISE_SALT": "test-pairwise-salt",
    "KEY_PASSPHRASE": "test-key-passphrase",
    # One retry (after 1 s) is enough to test retrying, and keeps the suite from waiting.
    "BACKCHANNEL_LOGOUT_ATTEMPTS": 2,
    # The relying parties the tests start listen on loopback, which only development allows.
    "OUTBOUND_ALLOW": ["127.0.0.0/8"],
}


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory, keys_dir) -> Path:
    """Run the Alembic migrations once; each test gets a copy of the result."""
    instance = tmp_path_factory.mktemp("template")
    app = create_app({**TEST_SETTINGS, "KEYS_DIR": str(keys_dir), "INSTANCE_PATH": str(instance)})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return instance / "idp.sqlite3"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_app(tmp_path, keys_dir, migrated_database):
    """Build a provider with extra settings, on its own copy of the migrated database."""

    def factory(**overrides):
        instance = tmp_path / f"instance-{len(list(tmp_path.iterdir()))}"
        instance.mkdir()
        shutil.copy(migrated_database, instance / "idp.sqlite3")
        settings = {**TEST_SETTINGS, "KEYS_DIR": str(keys_dir), "INSTANCE_PATH": str(instance)}
        settings.update(overrides)
        return create_app(settings)

    return factory


@pytest.fixture
def app(make_app):
    # No app context stays pushed around the test: each request then gets its own, as in
    # production (requests inside an outer context would share `g`). Fixtures and tests push
    # one only around direct database work.
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def citizen(app):
    with app.app_context():
        return create_user(**ARTA)


@pytest.fixture
def business(app):
    with app.app_context():
        return create_user(
            kind="business",
            identifier=BUSINESS_NIPT,
            password=PASSWORD,
            business_name="Demo Shpk",
            email="info@example.org",
        )


@pytest.fixture
def register_client(app):
    """Register a client with test defaults; returns (client, secret)."""

    def factory(**options):
        defaults = {
            "name": "Agency service",
            "redirect_uris": ["https://rp.example.org/cb"],
            "post_logout_redirect_uris": ["https://rp.example.org/bye"],
            "scopes": ["openid", "profile", "email", "phone", "nid", "business", "offline"],
        }
        defaults.update(options)
        with app.app_context():
            return create_client(**defaults)

    return factory


class LiveServer:
    """A provider served over real HTTP on a loopback port, in a thread."""

    def __init__(self, app, port: int):
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def session_of(self, browser) -> dict:
        """The app's signed session cookie in a requests browser, decoded as the app reads it."""
        cookie = browser.cookies.get(self.app.config["SESSION_COOKIE_NAME"])
        assert cookie, "the app set no session cookie"
        return self.app.session_interface.get_signing_serializer(self.app).loads(cookie)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def serve_provider(make_app):
    """Start providers on real ports with extra settings; each one's issuer is its URL."""
    servers = []

    def start(**overrides) -> LiveServer:
        port = free_port()
        app = make_app(ISSUER=f"http://127.0.0.1:{port}", **overrides)
        servers.append(LiveServer(app, port).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_provider(serve_provider):
    """The provider on a real port, with the test settings."""
    return serve_provider()


POSTGRES_ADMIN_URL = os.environ.get(
    "IDP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test. Skipped where no server runs, except on
    CI, which must run every PostgreSQL test."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests, but {POSTGRES_ADMIN_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    name = f"idp_test_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {name}")
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def serve_provider_on(request, serve_provider):
    """Like serve_provider, once on SQLite and once on a migrated PostgreSQL database: for the
    tests whose counting must hold on both."""

    def start(**overrides) -> LiveServer:
        if request.param == "sqlite":
            return serve_provider(**overrides)
        server = serve_provider(DATABASE_URL=request.getfixturevalue("postgres_url"), **overrides)
        with server.app.app_context():
            upgrade()
        return server

    return start


# -- Tests never write into the checkout: everything goes to pytest's temporary folders. --

CHECKOUT = Path(__file__).resolve().parent.parent
# Made by installing and running Python, not by what the tests do.
NOT_OURS = ("__pycache__", ".pytest_cache", ".venv", ".egg-info", ".ruff_cache")


def _files_in_checkout() -> set[str] | None:
    """Every file git does not track (ignored ones included); None outside a git checkout."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        listing = subprocess.run(
            [git, "ls-files", "--others", "-z"],
            cwd=CHECKOUT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    names = {name for name in listing.decode("utf-8", "replace").split("\0") if name}
    return {name for name in names if not any(part in name for part in NOT_OURS)}


def pytest_sessionstart(session) -> None:
    session.config.stash[_CHECKOUT_BEFORE] = _files_in_checkout()


def pytest_sessionfinish(session, exitstatus) -> None:
    before = session.config.stash.get(_CHECKOUT_BEFORE, None)
    after = _files_in_checkout()
    if before is None or after is None:
        return
    written = sorted(after - before)
    if written:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"tests wrote into the checkout: {', '.join(written)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_CHECKOUT_BEFORE = pytest.StashKey[set[str] | None]()


# Real SMTP and SMS gateway servers for delivery tests (defined beside their helpers).
from delivery_servers import gateway, mail_server  # noqa: E402, F401
