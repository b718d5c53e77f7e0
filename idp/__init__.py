"""The identity provider: an OAuth 2.0 / OpenID Connect provider for e-government services."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

from flask import Flask
from flask_babel import Babel
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from .keystore import KeyPolicy, KeyStore
from .models import db
from .security import HashingBusy, Passwords

PACKAGE_DIR = Path(__file__).resolve().parent
csrf = CSRFProtect()
migrate = Migrate()
babel = Babel()


def create_app(config: dict | None = None) -> Flask:
    """Build the provider. `config` overrides settings (tests); otherwise file and environment."""
    settings = config_module.load(config)
    config_module.validate(settings)
    app = Flask(
        __name__,
        instance_path=settings.pop("INSTANCE_PATH", None) or _instance_path(),
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.config.update(settings)
    _make_private_folder(Path(app.instance_path))
    _configure_flask(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)
    from .web import i18n

    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(PACKAGE_DIR / "web" / "translations"),
    )

    _init_services(app)

    from . import admin
    from .auth import account_views, recovery_views, registration_views
    from .auth.views import bp as auth_bp
    from .oauth import interaction
    from .oauth import registration as client_registration
    from .oauth import views as oauth_views
    from .web import overload, pages

    app.register_blueprint(oauth_views.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_views.bp)
    app.register_blueprint(recovery_views.bp)
    app.register_blueprint(registration_views.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(client_registration.bp)
    # Bearer-authenticated APIs: no browser session, so no CSRF token.
    csrf.exempt(admin.bp)
    csrf.exempt(client_registration.bp)
    # Endpoints that relying parties call or post to authenticate clients or tokens themselves
    # (logout confirmation checks its own CSRF token): a session CSRF token means nothing there.
    for view in (
        oauth_views.token_endpoint,
        oauth_views.revocation_endpoint,
        oauth_views.introspection_endpoint,
        oauth_views.userinfo_endpoint,
        oauth_views.end_session_endpoint,
        oauth_views.authorize_endpoint,
    ):
        csrf.exempt(view)
    pages.init_app(app)
    # The cookie that binds pending authorization requests to their browser.
    app.after_request(interaction.write_cookie)
    # Every argon2id slot taken (idp.security): 503 with Retry-After, from whichever view hashed.
    app.register_error_handler(HashingBusy, overload.hashing_busy)

    from . import cli

    cli.init_app(app)
    return app


def _instance_path() -> str:
    return os.environ.get("IDP_INSTANCE_PATH") or str(PACKAGE_DIR.parent / "instance")


def _configure_flask(app: Flask) -> None:
    issuer_is_https = app.config["ISSUER"].startswith("https://")
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'idp.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(app.config["DATABASE_URL"])
    _make_sqlite_file_private(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", app.config["AUTHORIZATION_REQUEST_LIFETIME"])
    app.config["SESSION_COOKIE_NAME"] = "__Host-idp_csrf" if issuer_is_https else "idp_csrf"
    app.config["SESSION_COOKIE_SECURE"] = issuer_is_https
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["LOCALES"][0]
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Europe/Tirane"
    app.debug = app.config["DEBUG"]
    if not issuer_is_https:
        # Authlib refuses plain http unless told; validate() allows it only outside production.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _make_private_folder(path: Path) -> None:
    """The instance folder holds the SQLite database, the development key passphrase and the
    outbox of codes: only the provider's own user may enter it (0700), even if it existed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A folder of another user that the operator chose keeps the permissions they gave it.
    with contextlib.suppress(PermissionError):
        path.chmod(0o700)


def _make_sqlite_file_private(url: str) -> None:
    """Create the SQLite database file 0600 before SQLite does (it would use 0644 less the
    umask). SQLite gives its WAL, shared-memory and journal files the database file's mode, so
    they are 0600 too; any left by an earlier version are tightened here."""
    database = make_url(url).database
    if not url.startswith("sqlite") or not database or database == ":memory:":
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise config_module.ConfigError(f"IDP_DATABASE_URL {path}: {exc.strerror}") from None
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        sibling = path.with_name(name)
        if sibling.exists():
            sibling.chmod(0o600)


def _sqlalchemy_url(url: str) -> str:
    """postgresql:// URLs as operators write them, on the psycopg 3 driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: enforce foreign keys, allow concurrent readers, wait instead of failing on locks."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _init_services(app: Flask) -> None:
    """The services views ask for, chosen once at start-up (see idp.store, idp.keystore)."""
    from . import keys_cli
    from .delivery import create_senders
    from .oauth import discovery
    from .oauth.server import create_server
    from .store.sql import SqlStore

    keys_dir = Path(app.config["KEYS_DIR"] or PACKAGE_DIR.parent / "keys")
    keystore = KeyStore(
        keys_dir,
        _key_passphrase(app),
        KeyPolicy.from_config(app.config),
        on_change=keys_cli.audit_in_background(app),
    )
    keystore.ensure_current()
    app.extensions["idp.keystore"] = keystore
    app.extensions["idp.store"] = SqlStore()
    app.extensions["idp.passwords"] = Passwords(
        app.config["ARGON2_TIME_COST"],
        app.config["ARGON2_MEMORY_COST"],
        app.config["ARGON2_PARALLELISM"],
        memory_budget=app.config["ARGON2_MEMORY_BUDGET"],
        queue_timeout=app.config["ARGON2_QUEUE_TIMEOUT"],
    )
    app.extensions["idp.senders"] = create_senders(app.config, app.instance_path)
    app.extensions["idp.oauth"] = create_server(app)
    app.extensions["idp.metadata_json"] = json.dumps(discovery.metadata(app), indent=2)


def _key_passphrase(app: Flask) -> bytes:
    if app.config["KEY_PASSPHRASE"]:
        return app.config["KEY_PASSPHRASE"].encode()
    if app.config["KEY_PASSPHRASE_FILE"]:
        path = Path(app.config["KEY_PASSPHRASE_FILE"])
        try:
            passphrase = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise config_module.ConfigError(f"IDP_KEY_PASSPHRASE_FILE {path}: {exc}") from None
        if app.config["ENV"] == "production":
            config_module.check_key_passphrase(passphrase, "IDP_KEY_PASSPHRASE_FILE")
        return passphrase.encode()
    # Development only (validate() refuses this in production): a passphrase of this machine.
    path = Path(app.instance_path) / "key-passphrase"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip().encode()
