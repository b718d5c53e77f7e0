"""Operator commands for the signing keys: ``idp keys list|rotate|revoke|import|export``.

Every action is audited (``key.created``, ``key.rotated``, ``key.retired``, ``key.removed``,
``key.revoked``, ``key.imported``, ``key.exported``); changes take effect on every node within
KEYS_CHECK_INTERVAL seconds, without a restart. The README ("Signing keys") says when to use which.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import audit
from .config import SIGNING_ALGORITHMS
from .keystore import CURRENT, NEXT, KeyChange, KeyStore, SigningKey


@click.group(help="The provider's signing keys: list, rotate, revoke, import, export.")
def keys() -> None:
    pass


def _store() -> KeyStore:
    return current_app.extensions["idp.keystore"]


def record(change: KeyChange, by: str) -> None:
    """Audit one key change (inside an app context)."""
    detail = {"kid": change.key.kid, "alg": change.key.alg, "state": change.key.state, "by": by}
    if change.previous is not None:
        detail["retired"] = change.previous.kid
    audit.record(change.event, change.outcome, **detail)


def audit_in_background(app: Flask) -> Callable[[KeyChange], None]:
    """For changes the key store makes on its own, in the middle of a request (a missing
    current key replaced): recorded from a thread of its own, so that the audit's commit does
    not commit the request's half-done work with it."""

    def audit_change(change: KeyChange) -> None:
        def write() -> None:
            with app.app_context():
                record(change, by="provider")

        threading.Thread(target=write, name="key-audit").start()

    return audit_change


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _algorithms(alg: str | None) -> tuple[str, ...]:
    """The algorithm asked for, or all; only those the deployment keeps keys for."""
    configured = _store().policy.algorithms
    if alg and alg not in configured:
        raise click.BadParameter(f"{alg} is not one of IDP_KEY_ALGORITHMS", param_hint="--alg")
    return (alg,) if alg else configured


# -- list ---------------------------------------------------------------------------------------


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
@with_appcontext
def keys_list(as_json: bool) -> None:
    """Every key in the store with its state and times (UTC)."""
    store = _store()
    if as_json:
        for key in store.all_keys():
            click.echo(json.dumps(_metadata(key)))
        return
    now = int(time.time())
    echo_table(
        ("KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES", "REMOVES"),
        [_row(key, store.policy.rotation_age, now) for key in store.all_keys()],
    )


def echo_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print rows under a header, each column as wide as its widest cell."""
    table = [tuple(header), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _row(key: SigningKey, rotation_age: int, now: int) -> tuple[str, ...]:
    retires = _when(key.retired_at or key.revoked_at)
    if key.state == CURRENT:
        # When `rotate --if-due` starts replacing it: the rule of KeyStore.rotate_if_due.
        due_at = key.activates_at + rotation_age
        retires = _when(due_at) + (" (due)" if now >= due_at else "")
    return (
        key.kid,
        key.alg,
        key.state,
        _when(key.created_at),
        _when(key.activates_at),
        retires,
        _when(key.removes_at),
    )


def _metadata(key: SigningKey) -> dict:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state,
        "created_at": key.created_at,
        "activates_at": key.activates_at,
        "retired_at": key.retired_at,
        "removes_at": key.removes_at,
        "revoked_at": key.revoked_at,
    }


# -- rotate -------------------------------------------------------------------------------------


@keys.command("rotate")
@click.option("--alg", type=click.Choice(SIGNING_ALGORITHMS), help="One algorithm (default: all).")
@click.option(
    "--if-due",
    is_flag=True,
    help="Only what the policy says is due (for cron or a systemd timer); exits 0 either way.",
)
@click.option(
    "--now",
    "--force",
    "immediately",
    is_flag=True,
    help="Emergency: the next (or a new) key signs at once, without waiting for JWKS caches.",
)
@with_appcontext
def keys_rotate(alg: str | None, if_due: bool, immediately: bool) -> None:
    """Advance the key lifecycle by one step: publish a next key, or let it sign once every
    JWKS cache has it. Keys whose tokens have all expired are removed on the way."""
    if if_due and immediately:
        raise click.UsageError("--if-due and --now exclude each other")
    store = _store()
    step = store.rotate_if_due if if_due else store.rotate_now if immediately else store.rotate
    for algorithm in _algorithms(alg):
        changes = step(algorithm)
        for change in changes:
            record(change, by="cli")
            click.echo(f"{algorithm}: {_describe(change)}")
        if not any(change.event in ("key.created", "key.rotated") for change in changes):
            click.echo(f"{algorithm}: {_why_nothing(store, algorithm, if_due)}")


def _describe(change: KeyChange) -> str:
    key = change.key
    if change.event == "key.created" and change.outcome == "emergency" and key.state == NEXT:
        return f"created {key.kid}"
    if change.event == "key.created" and key.state == NEXT:
        return f"published next key {key.kid}; it may sign from {_when(key.activates_at)}"
    if change.event == "key.created":
        missing = " (the algorithm had no current key)" if change.outcome == "emergency" else ""
        return f"created current key {key.kid}, signing now{missing}"
    if change.event == "key.rotated":
        retired = change.previous
        line = f"{key.kid} signs now"
        if retired is not None:
            line += f"; {retired.kid} retired, published until {_when(retired.removes_at)}"
        return line
    if change.event == "key.retired":
        return f"retired {key.kid}: a newer current key superseded it"
    if change.event == "key.removed":
        return f"removed {key.kid} ({key.state}): every token it signed has expired"
    return f"{change.event} {key.kid}"


def _why_nothing(store: KeyStore, alg: str, if_due: bool) -> str:
    keys = [key for key in store.all_keys() if key.alg == alg]
    upcoming = [key for key in keys if key.state == NEXT]
    if upcoming:
        key = upcoming[-1]
        wait = max(0, key.activates_at - int(time.time()))
        return (
            f"nothing due: next key {key.kid} may sign from {_when(key.activates_at)} "
            f"(in {wait} s, once every JWKS cache has it); run again then, or use --now"
        )
    current = [key for key in keys if key.state == CURRENT]
    if current and if_due:
        age_days = (int(time.time()) - current[-1].activates_at) // 86400
        return (
            f"nothing due: current key {current[-1].kid} is {age_days} days old "
            f"(rotation at {store.policy.rotation_age // 86400})"
        )
    return "nothing done"


# -- revoke -------------------------------------------------------------------------------------


@keys.command("revoke")
@click.argument("kid")
@with_appcontext
def keys_revoke(kid: str) -> None:
    """Compromise: unpublish KID and refuse its tokens on every node at once. A revoked current
    key is replaced by a new one immediately. A KID starting with "-" goes after "--"."""
    store = _store()
    try:
        changes = store.revoke(kid)
    except (LookupError, ValueError) as error:
        raise click.ClickException(str(error).strip("'\"")) from None
    for change in changes:
        record(change, by="cli")
    revoked = changes[0].key
    interval = store.policy.check_interval
    click.secho(
        f"REVOKED {revoked.kid} ({revoked.alg}): gone from the JWKS; every node refuses its "
        f"tokens within {interval:g} s. Relying parties drop it when their cached JWKS expires "
        f"(at most {current_app.config['JWKS_MAX_AGE']} s).",
        err=True,
        fg="red",
        bold=True,
    )
    for change in changes[1:]:
        click.echo(f"{change.key.alg}: {_describe(change)}")


# -- import / export ----------------------------------------------------------------------------


@keys.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--alg", type=click.Choice(SIGNING_ALGORITHMS), required=True)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The passphrase of an encrypted PEM file (else asked for when needed).",
)
@with_appcontext
def keys_import(file: Path, alg: str, passphrase_file: Path | None) -> None:
    """Add a PEM private key (PKCS#8 or traditional, encrypted or not) as the next key of ALG,
    re-encrypted with the store's passphrase."""
    _algorithms(alg)
    pem = file.read_bytes()
    password = None
    if passphrase_file is not None:
        password = passphrase_file.read_text(encoding="utf-8").strip().encode()
    elif b"ENCRYPTED" in pem:
        password = click.prompt("Passphrase of the key file", hide_input=True).encode()
    try:
        change = _store().import_key(pem, alg, password)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    record(change, by="cli")
    key = change.key
    click.echo(f"{alg}: imported {key.kid} as next key; it may sign from {_when(key.activates_at)}")


@keys.command("export")
@click.option("--public", is_flag=True, help="The JWKS: public parameters only.")
@with_appcontext
def keys_export(public: bool) -> None:
    """Print the published keys as a JWKS document (what /jwks.json serves)."""
    if not public:
        raise click.UsageError(
            "only public keys are exported (--public); back up the key directory, with its "
            "passphrase kept apart, for the private ones"
        )
    store = _store()
    store.refresh_if_changed(force=True)
    jwks = store.public_jwks()
    audit.record("key.exported", "ok", kids=[key["kid"] for key in jwks["keys"]], by="cli")
    click.echo(json.dumps(jwks, indent=2, sort_keys=True))
