"""Operator commands: ``idp users|clients|audit|demo ...`` (also ``flask --app idp ...``).

Secrets are printed once, when created, and stored only as digests.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate.cli import db as migration_commands
from sqlalchemy import select

from . import audit, outbound, security
from .auth import identifiers, lockout, login
from .auth.security_questions import QUESTIONS, hash_answer
from .config import SIGNING_ALGORITHMS
from .keys_cli import echo_table, keys
from .models import BUSINESS, CITIZEN, AuditEvent, Client, User, db
from .oauth.registration import issue_initial_access_token, uri_problem

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def main() -> None:
    from .config import ConfigError

    group = FlaskGroup(create_app=_create_app, help="Operate the identity provider.")
    # Known without the app, so that help can list them. `db` is what Flask-Migrate adds to the
    # app's commands (idp/__init__.py).
    for command in _operator_commands():
        group.add_command(command)
    group.add_command(migration_commands, "db")
    try:
        group(prog_name="idp")
    except ConfigError as error:
        # A setting is wrong: say which, without a traceback.
        sys.exit(f"idp: configuration error: {error}")


def _create_app() -> Flask:
    """The provider, unless the command line asks only for help. Building the provider creates
    its instance folder, database file and first signing keys, and help needs none of them;
    but Flask builds the app to list commands, and Flask-Migrate's `db` group before its
    subcommand reads `--help`. An empty Flask app stands in for those."""
    arguments = sys.argv[1:]
    if not arguments or "--help" in arguments:
        return Flask(__name__)
    from . import create_app

    return create_app()


def init_app(app: Flask) -> None:
    # For `flask --app idp ...` and the tests' CLI runner.
    for command in _operator_commands():
        app.cli.add_command(command)


def _operator_commands() -> tuple[click.Command, ...]:
    return (users, clients, audit_group, demo, keys)


# -- users -------------------------------------------------------------------------------------


@click.group(help="Accounts of citizens and businesses.")
def users() -> None:
    pass


@users.command("create")
@click.option("--kind", type=click.Choice([CITIZEN, BUSINESS]), default=CITIZEN, show_default=True)
@click.option("--identifier", required=True, help="NID for a citizen, NIPT for a business.")
@click.option("--given-name")
@click.option("--family-name")
@click.option("--birthdate", help="YYYY-MM-DD (for citizens, defaults to the date in the NID).")
@click.option("--business-name")
@click.option("--email")
@click.option("--phone", help="E.164, e.g. +355691234567.")
@click.option("--password", help="Read from a prompt when omitted (recommended).")
@click.option(
    "--security-question",
    type=click.Choice(sorted(QUESTIONS)),
    help="For account recovery; needs --security-answer.",
)
@click.option("--security-answer")
@with_appcontext
def users_create(password: str | None, **account: str | None) -> None:
    """Create an account (it needs a phone or an e-mail address to receive its codes)."""
    # Whatever could refuse the account is checked before anyone types its password.
    user = new_user(**account)
    password = password or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    store_user(user, password)
    click.echo(f"created {user.kind} {user.identifier} (sub {user.subject})")


def create_user(*, password: str, **account) -> User:
    """Check and store an account (the keywords of `new_user`)."""
    return store_user(new_user(**account), password)


def new_user(
    *,
    kind: str,
    identifier: str,
    given_name: str | None = None,
    family_name: str | None = None,
    birthdate: str | None = None,
    business_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    security_question: str | None = None,
    security_answer: str | None = None,
) -> User:
    """An account that nothing refuses any more, not stored yet and without its password."""
    kind, identifier = _account_identifier(identifier, kind, "--identifier")
    if kind == BUSINESS and not business_name:
        raise click.BadParameter("a business needs --business-name")
    if not phone and not email:
        # Every sign-in sends a one-time code, by SMS or e-mail: without either, none arrives.
        raise click.BadParameter("an account needs a phone or an e-mail address (--phone, --email)")
    if security_question and (security_question not in QUESTIONS or not security_answer):
        raise click.BadParameter("a known --security-question and its --security-answer")
    if login.find_account(identifier, kind) is not None:
        raise click.ClickException(f"a {kind} account {identifier} already exists")
    user = User(
        subject=security.generate_secret(16),
        kind=kind,
        identifier=identifier,
        given_name=given_name,
        family_name=family_name,
        birthdate=_birthdate(birthdate, kind, identifier),
        business_name=business_name,
        email=email,
        email_verified=bool(email),
        phone=phone,
        phone_verified=bool(phone),
    )
    if security_question:
        user.security_question = security_question
        user.security_answer_hash = hash_answer(security_answer)
    return user


def store_user(user: User, password: str) -> User:
    """Hash the password and store the account from `new_user`."""
    user.password_hash = current_app.extensions["idp.passwords"].hash(password)
    db.session.add(user)
    db.session.commit()
    audit.record("account.created", "ok", account=user.identifier, by="cli")
    return user


def _account_identifier(identifier: str, kind: str | None, hint: str) -> tuple[str, str]:
    """The kind and the identifier as accounts store them. Without a kind, the identifier
    decides as at sign-in; one that is not valid for its kind is refused, saying why."""
    identifier = identifiers.normalize(identifier)
    if kind is None and not login.identifier_is_well_formed(identifier):
        raise click.BadParameter(
            f"{identifier} is neither a valid NID nor a valid NIPT", param_hint=hint
        )
    kind = kind or login.account_kind(identifier, None)
    if kind == CITIZEN and not identifiers.is_valid_nid(identifier):
        raise click.BadParameter(f"{identifier} is not a valid NID", param_hint=hint)
    if kind == BUSINESS:
        if not identifiers.is_valid_nipt(identifier):
            raise click.BadParameter(f"{identifier} is not a valid NIPT", param_hint=hint)
        identifier = identifiers.compact_nipt(identifier)
    return kind, identifier


def _birthdate(birthdate: str | None, kind: str, identifier: str) -> dt.date | None:
    """The date given, else a citizen's from the NID."""
    if not birthdate:
        return identifiers.nid_birthdate(identifier) if kind == CITIZEN else None
    try:
        return dt.date.fromisoformat(birthdate)
    except ValueError:
        raise click.BadParameter(
            f"{birthdate} is not YYYY-MM-DD", param_hint="--birthdate"
        ) from None


@users.command("unlock")
@click.argument("identifier")
@click.option(
    "--kind",
    type=click.Choice([CITIZEN, BUSINESS]),
    help="Defaults to citizen for a NID, business otherwise.",
)
@with_appcontext
def users_unlock(identifier: str, kind: str | None) -> None:
    """Lift the lock of an account after wrong passwords (support, on request)."""
    kind_meant, identifier = _account_identifier(identifier, kind, "IDENTIFIER")
    if login.find_account(identifier, kind_meant) is None:
        # A self-employed person's NIPT is their NID: the same string may name a business.
        guess = (
            " (a business? add --kind business)" if kind is None and kind_meant == CITIZEN else ""
        )
        raise click.ClickException(f"no {kind_meant} account {identifier}{guess}")
    was_locked = lockout.locked_until(kind_meant, identifier) is not None
    lockout.unlock(kind_meant, identifier, by="cli")
    click.echo(
        f"{kind_meant} {identifier} unlocked"
        if was_locked
        else f"{kind_meant} {identifier} was not locked; its failure count is reset"
    )


# -- clients -----------------------------------------------------------------------------------


@click.group(help="Relying parties (OAuth clients).")
def clients() -> None:
    pass


@clients.command("create")
@click.option("--name", required=True)
@click.option("--client-id", help="Defaults to a random identifier.")
@click.option(
    "--type",
    "client_type",
    type=click.Choice(["confidential", "public"]),
    default="confidential",
    show_default=True,
)
@click.option(
    "--auth-method",
    type=click.Choice(AUTH_METHODS),
    help="Token endpoint authentication; defaults by type.",
)
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--scope", "scopes", multiple=True, default=("openid",), show_default=True)
@click.option(
    "--grant",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    default=("authorization_code", "refresh_token"),
    show_default=True,
)
@click.option("--resource", "resources", multiple=True, help="RFC 8707 resource indicator.")
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Public JWKS for private_key_jwt.",
)
@click.option("--first-party", is_flag=True, help="Skip the consent screen.")
@click.option("--pairwise", is_flag=True, help="Give this client pairwise subject identifiers.")
@click.option("--sector-identifier", help="Sector host for pairwise subjects.")
@click.option("--id-token-alg", type=click.Choice(SIGNING_ALGORITHMS))
@click.option("--backchannel-logout-uri", help="Where logout tokens are POSTed.")
@click.option("--client-uri", help="The service's home page, linked on the consent screen.")
@click.option("--logo-uri", help="The service's logo, shown on the consent screen.")
@click.option("--policy-uri", help="Its privacy policy, linked on the consent screen.")
@click.option("--tos-uri", help="Its terms of service, linked on the consent screen.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def clients_create(as_json: bool, **options) -> None:
    """Register a client. The secret is shown once."""
    client, secret = create_client(**options)
    result = {
        "client_id": client.client_id,
        "client_secret": secret,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"client_id:     {client.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}   (shown once; stored only as a digest)")
    click.echo(f"auth method:   {client.token_endpoint_auth_method}")


def create_client(
    *,
    name: str,
    client_type: str = "confidential",
    client_id: str | None = None,
    auth_method: str | None = None,
    redirect_uris=(),
    post_logout_redirect_uris=(),
    scopes=("openid",),
    grant_types=("authorization_code", "refresh_token"),
    resources=(),
    jwks_file=None,
    first_party=False,
    pairwise=False,
    sector_identifier=None,
    id_token_alg=None,
    backchannel_logout_uri=None,
    client_uri=None,
    logo_uri=None,
    policy_uri=None,
    tos_uri=None,
) -> tuple[Client, str | None]:
    """Validate and store a client; returns it with its secret (None without one)."""
    if client_id and client_id.startswith("-"):
        # Like generated ids: commands taking a client id would read it as an option.
        raise click.BadParameter("must not start with '-'", param_hint="--client-id")
    auth_method = auth_method or ("none" if client_type == "public" else "client_secret_basic")
    if (client_type == "public") != (auth_method == "none"):
        raise click.BadParameter("public clients use auth method none, confidential ones not")
    if client_type == "public" and "client_credentials" in grant_types:
        raise click.BadParameter("public clients cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise click.BadParameter("authorization_code needs at least one --redirect-uri")
    production = current_app.config["ENV"] == "production"
    if id_token_alg and id_token_alg not in current_app.config["KEY_ALGORITHMS"]:
        raise click.BadParameter(f"{id_token_alg} is not one of IDP_KEY_ALGORITHMS")
    links = (backchannel_logout_uri, client_uri, logo_uri, policy_uri, tos_uri)
    for uri in (*redirect_uris, *post_logout_redirect_uris, *resources, *filter(None, links)):
        _check_uri(uri, production)
    if backchannel_logout_uri:
        policy = outbound.Policy.from_config(current_app.config)
        problem = outbound.registration_problem(backchannel_logout_uri, policy)
        if problem:
            raise click.BadParameter(f"--backchannel-logout-uri: {problem}")
    jwks = None
    if auth_method == "private_key_jwt":
        if not jwks_file:
            raise click.BadParameter("private_key_jwt needs --jwks-file")
        jwks = json.loads(Path(jwks_file).read_text())
        if any("d" in key for key in jwks.get("keys", [])):
            raise click.BadParameter("the JWKS holds a private key; register public keys only")
    client = Client(
        client_id=client_id or security.generate_client_id(),
        name=name,
        token_endpoint_auth_method=auth_method,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(post_logout_redirect_uris),
        scopes=list(dict.fromkeys(scopes)),
        grant_types=list(dict.fromkeys(grant_types)),
        resources=list(resources),
        jwks=jwks,
        first_party=first_party,
        subject_type="pairwise" if pairwise else "public",
        sector_identifier=sector_identifier,
        id_token_signed_response_alg=id_token_alg,
        backchannel_logout_uri=backchannel_logout_uri,
        client_uri=client_uri,
        logo_uri=logo_uri,
        policy_uri=policy_uri,
        tos_uri=tos_uri,
    )
    if pairwise and client.pairwise_sector() is None:
        raise click.BadParameter("redirect URIs on several hosts need --sector-identifier")
    secret = None
    if auth_method in ("client_secret_basic", "client_secret_post"):
        secret = security.generate_secret()
        client.client_secret_hash = security.digest(secret)
    if db.session.execute(select(Client).where(Client.client_id == client.client_id)).scalar():
        raise click.ClickException(f"client {client.client_id} already exists")
    db.session.add(client)
    db.session.commit()
    audit.record("client.created", "ok", client_id=client.client_id, by="cli")
    return client, secret


def _check_uri(uri: str, production: bool) -> None:
    # The same rule as for clients that register themselves (RFC 7591).
    problem = uri_problem(uri, production)
    if problem:
        raise click.BadParameter(f"{uri}: {problem}")


@clients.command("list")
@with_appcontext
def clients_list() -> None:
    """List clients."""
    rows = db.session.execute(select(Client).order_by(Client.created_at)).scalars()
    echo_table(
        ("CLIENT ID", "STATE", "AUTH", "NAME"),
        [
            (client.client_id, _state(client), client.token_endpoint_auth_method, client.name)
            for client in rows
        ],
    )


def _state(client: Client) -> str:
    return "disabled" if client.disabled else "active" if client.approved else "pending"


@clients.command("approve")
@click.argument("client_id")
@with_appcontext
def clients_approve(client_id: str) -> None:
    """Let a dynamically registered client sign people in, once its registration is checked."""
    client = _find_client(client_id)
    if client.approved:
        click.echo(f"{client_id} was already approved")
        return
    client.approved = True
    db.session.commit()
    audit.record("client.approved", "ok", client_id=client_id, by="cli")
    click.echo(f"{client_id} approved: {client.name}")
    click.echo(f"  redirect URIs: {' '.join(client.redirect_uris) or '-'}")
    click.echo(f"  scopes:        {' '.join(client.scopes)}")


@clients.command("initial-token")
@click.option("--description", required=True, help="Who it is for: agency, service, contact.")
@click.option("--uses", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--days", default=7, show_default=True, type=click.IntRange(min=1, max=365))
@with_appcontext
def clients_initial_token(description: str, uses: int, days: int) -> None:
    """Issue an initial access token for Dynamic Client Registration (RFC 7591). Shown once."""
    if not description.strip() or len(description) > 200:
        raise click.BadParameter("1 to 200 characters", param_hint="--description")
    token = issue_initial_access_token(description.strip(), uses, days * 86400)
    audit.record("client.initial_token", "ok", by="cli", description=description, uses=uses)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    click.echo(f"initial access token: {token}   (shown once; stored only as a digest)")
    click.echo(f"registers {uses} client(s) until {until.isoformat(timespec='minutes')}")


@clients.command("disable")
@click.argument("client_id")
@with_appcontext
def clients_disable(client_id: str) -> None:
    """Stop a client: no new logins or tokens, and its tokens no longer validate."""
    _set_disabled(client_id, True)


@clients.command("enable")
@click.argument("client_id")
@with_appcontext
def clients_enable(client_id: str) -> None:
    """Re-enable a disabled client."""
    _set_disabled(client_id, False)


def _find_client(client_id: str) -> Client:
    client = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar()
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    return client


def _set_disabled(client_id: str, disabled: bool) -> None:
    client = _find_client(client_id)
    client.disabled = disabled
    db.session.commit()
    audit.record(
        "client.disabled" if disabled else "client.enabled", "ok", client_id=client_id, by="cli"
    )
    click.echo(f"{client_id} {'disabled' if disabled else 'enabled'}")


# -- audit -------------------------------------------------------------------------------------


@click.group("audit", help="The audit log.")
def audit_group() -> None:
    pass


# Client ids may be 64 characters long; the table cuts longer ones to this, visibly ("…").
# `--json` gives them whole.
AUDIT_CLIENT_WIDTH = 24


@audit_group.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--event", help="Only events whose name starts with this.")
@click.option("--account", help="Only events of this NID / NIPT.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def audit_list(limit: int, event: str | None, account: str | None, as_json: bool) -> None:
    """Show recent audit events, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if event:
        query = query.where(AuditEvent.event.startswith(event))
    if account:
        query = query.where(AuditEvent.account == identifiers.normalize(account))
    events = db.session.execute(query).scalars().all()
    if as_json:
        for row in events:
            click.echo(json.dumps(_audit_json(row)))
        return
    echo_table(
        ("AT", "EVENT", "OUTCOME", "ACCOUNT", "CLIENT", "IP", "KEY"),
        [_audit_row(row) for row in events],
    )


def _audit_json(row: AuditEvent) -> dict:
    return {
        "at": _audit_time(row),
        "event": row.event,
        "outcome": row.outcome,
        "account": row.account,
        "client_id": row.client_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "detail": row.detail,
    }


def _audit_row(row: AuditEvent) -> tuple[str, ...]:
    return (
        _audit_time(row),
        row.event,
        row.outcome,
        row.account or "-",
        _clip(row.client_id or "-", AUDIT_CLIENT_WIDTH),
        row.ip or "-",
        _audited_key(row),
    )


def _audit_time(row: AuditEvent) -> str:
    return dt.datetime.fromtimestamp(row.at, dt.UTC).isoformat(timespec="seconds")


def _audited_key(row: AuditEvent) -> str:
    """The key a key event is about and its algorithm (keys_cli.record), or the keys exported."""
    detail = row.detail or {}
    if "kid" in detail:
        return f"{detail['kid']} {detail.get('alg', '')}".rstrip()
    return " ".join(detail.get("kids", ())) or "-"


def _clip(text: str, width: int) -> str:
    """Text cut to width, visibly ("…") when it is longer."""
    return text if len(text) <= width else text[: width - 1] + "…"


# -- demo --------------------------------------------------------------------------------------

DEMO_PASSWORD_FILE = "demo-accounts.json"


@click.command(help="Create demo accounts and the demo portal client (idempotent).")
@click.option("--portal-url", default="http://127.0.0.1:5001", show_default=True)
@click.option("--agency-url", default="http://127.0.0.1:5002", show_default=True)
@with_appcontext
def demo(portal_url: str, agency_url: str) -> None:
    if current_app.config["ENV"] == "production":
        raise click.ClickException("demo data is refused in production")
    from .demo import seed

    summary = seed(portal_url, agency_url)
    out = Path(current_app.instance_path) / DEMO_PASSWORD_FILE
    out.write_text(json.dumps(summary, indent=2))
    out.chmod(0o600)
    click.echo(json.dumps(summary, indent=2) if not sys.stdout.isatty() else _describe(summary))


def _describe(summary: dict) -> str:
    lines = ["Demo accounts (password for all: see below):"]
    for account in summary["accounts"]:
        lines.append(f"  {account['kind']:<9} {account['identifier']}  {account['name']}")
    lines.append(f"  password: {summary['password']}")
    return "\n".join(lines)
