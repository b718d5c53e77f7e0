"""The signing-key store and the keys' lifecycle, in one directory every node reads.

Each key is a JSON file ``<kid>.json`` holding its metadata (kid, alg, state, timestamps) and its
private key as PKCS#8 PEM encrypted with the deployment's passphrase (cryptography's best
available encryption), so a copy of the directory alone reveals nothing. The rest of the provider
asks only for "the key that signs with ALG" (`signing_key`) and "the public keys" (`public_jwks`,
`public_keyset`).

A key's life, one algorithm at a time (one current key per algorithm)::

    next ──▶ current ──▶ retired ──▶ removed (file deleted)
      └──────────┴───────────┴──▶ revoked (compromised)

- **next**: published in the JWKS, not signing. It may sign from ``activates_at`` = published +
  JWKS_MAX_AGE + KEYS_CHECK_INTERVAL: by then every node publishes it and no relying party's
  cached JWKS lacks it.
- **current**: signs.
- **retired**: published, no longer signing, until ``removes_at`` = retired + the longest token
  lifetime + KEYS_CHECK_INTERVAL (a node may sign with it until it notices), when every token it
  signed has expired; from then on it is neither published nor accepted, and the next lifecycle
  step deletes its file.
- **revoked**: neither published nor accepted from the moment a node sees it.

Nodes notice changes without a restart: on the token path, at most every KEYS_CHECK_INTERVAL
seconds, they compare the directory listing (names, sizes, mtimes) with the one they loaded, and
reload on a difference; a token with a kid they do not know makes them look at once. Decrypted
keys are cached, so a state change never costs a decryption. Changes are written under an fcntl
lock, each file replaced atomically, in an order that never leaves an algorithm without a current
key for a reader in between.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import InvalidKeyIdError, SecurityWarning
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from .config import DEFAULTS, ConfigError

NEXT, CURRENT, RETIRED, REVOKED = "next", "current", "retired", "revoked"
STATES = (NEXT, CURRENT, RETIRED, REVOKED)
# The JWK type of each algorithm's keys (a key is made for one algorithm only, RFC 7517 §4.4).
JWK_TYPES: dict[str, type[RSAKey | ECKey | OKPKey]] = {
    "RS256": RSAKey,
    "PS256": RSAKey,
    "ES256": ECKey,
    "EdDSA": OKPKey,
}
# 2048-bit RSA: NIST SP 800-57 considers it sound through 2030, and our keys live 90 days.
RSA_KEY_SIZE = 2048

# RFC 9864 deprecates the name "EdDSA" (either curve) for "Ed25519". Our EdDSA keys are Ed25519
# only, which is what the new name means, and OpenID Connect relying parties know only "EdDSA"
# so far: joserfc's warning on every signature would say nothing new.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", category=SecurityWarning)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    """One key of the store: its private JWK and where it is in its life (Unix times)."""

    kid: str
    alg: str
    state: str
    created_at: int
    activates_at: int
    jwk: RSAKey | ECKey | OKPKey = field(repr=False)
    retired_at: int | None = None
    removes_at: int | None = None
    revoked_at: int | None = None
    # The PEM as stored: a state change rewrites it unchanged instead of encrypting it again.
    encrypted_pem: str = field(default="", repr=False, compare=False)

    def is_published(self, now: float) -> bool:
        """In the JWKS, and accepted for verification, at time now."""
        if self.state == RETIRED:
            return self.removes_at is None or now < self.removes_at
        return self.state in (NEXT, CURRENT)


@dataclass(frozen=True)
class KeyPolicy:
    """The lifecycle's timing, in seconds, derived from configuration (see `from_config`)."""

    algorithms: tuple[str, ...]
    publish_ahead: int
    retain: int
    rotation_age: int
    check_interval: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeyPolicy:
        from .oauth.backchannel import TOKEN_LIFETIME as LOGOUT_TOKEN_LIFETIME

        interval = config["KEYS_CHECK_INTERVAL"]
        # Every JWT we sign: ID tokens (also those a refresh issues), access tokens, logout tokens.
        longest_token = max(
            config["ID_TOKEN_LIFETIME"], config["ACCESS_TOKEN_LIFETIME"], LOGOUT_TOKEN_LIFETIME
        )
        return cls(
            algorithms=tuple(config["KEY_ALGORITHMS"]),
            publish_ahead=config["JWKS_MAX_AGE"] + interval,
            retain=longest_token + interval,
            rotation_age=config["KEY_ROTATION_AGE"] * 86400,
            check_interval=interval,
        )


@dataclass(frozen=True)
class KeyChange:
    """What a lifecycle step did, for the operator's output and the audit log."""

    event: str  # key.created, key.rotated, key.retired, key.removed, key.revoked, key.imported
    outcome: str  # ok, emergency, revoked
    key: SigningKey
    previous: SigningKey | None = None  # the key a rotation retired


@dataclass(frozen=True)
class _View:
    """What one node uses between two looks at the directory; replaced whole, never changed."""

    keys: tuple[SigningKey, ...]
    current: Mapping[str, SigningKey]
    jwks: dict
    keyset: KeySet
    fingerprint: tuple
    # When a retired key leaves publication: the view is rebuilt then even if no file changed.
    valid_until: float


class KeyStore:
    """The deployment's signing keys: read from the shared directory, changed only by lifecycle
    steps (operator commands) and, if an algorithm lost its current key, by itself."""

    def __init__(
        self,
        directory: Path,
        passphrase: bytes,
        policy: KeyPolicy | None = None,
        on_change: Callable[[KeyChange], None] | None = None,
    ):
        if not passphrase:
            raise ConfigError("the key store needs a passphrase (IDP_KEY_PASSPHRASE)")
        self.directory = Path(directory)
        self.policy = policy or KeyPolicy.from_config(DEFAULTS)
        self._passphrase = passphrase
        # Told of changes the store makes on its own (the provider audits them).
        self._on_change = on_change
        self._view = _View((), {}, {"keys": []}, KeySet([]), (), math.inf)
        self._refresh_lock = threading.Lock()
        self._next_check = 0.0

    # -- Start-up ---------------------------------------------------------------------------

    def load(self) -> None:
        """Read every key file now; a key that cannot be decrypted stops start-up with its name."""
        fingerprint = self._fingerprint()
        self._view = self._build_view(self._read_all(), fingerprint)
        self._next_check = time.monotonic() + self.policy.check_interval

    def ensure_current(self) -> list[KeyChange]:
        """Load the keys, first making a current key for each configured algorithm that has none
        (the first start of a deployment, or an algorithm newly configured)."""
        changes = []
        with self._editing() as keys:
            for alg in self.policy.algorithms:
                if _current_of(keys.values(), alg) is None:
                    changes.append(self._make_current(keys, alg, _now(None), "ok"))
                    logger.warning("created a current %s signing key in %s", alg, self.directory)
        self.load()
        return changes

    # -- What the token path uses ----------------------------------------------------------

    def refresh_if_changed(self, force: bool = False) -> bool:
        """Reload if the directory changed since the last look. Costs one clock reading except
        at most every KEYS_CHECK_INTERVAL seconds (or when forced); True if the view changed."""
        if not force and time.monotonic() < self._next_check:
            return False
        with self._refresh_lock:
            if not force and time.monotonic() < self._next_check:
                return False  # another thread has just looked
            self._next_check = time.monotonic() + self.policy.check_interval
            try:
                fingerprint = self._fingerprint()
                if fingerprint == self._view.fingerprint and time.time() < self._view.valid_until:
                    return False
                keys = self._read_all()
            except (OSError, ConfigError) as error:
                # Never fail requests over it: keep signing with the keys already loaded.
                logger.error("signing keys not reloaded from %s: %s", self.directory, error)
                return False
            self._view = self._build_view(keys, fingerprint)
            return True

    def signing_key(self, alg: str) -> SigningKey:
        """The current key of alg. If it has none (a deleted file, an incomplete restore), one is
        made at once: requests keep working, and the operator hears of it loudly."""
        self.refresh_if_changed()
        key = self._view.current.get(alg)
        return key if key is not None else self._replace_missing_current(alg)

    def public_jwks(self) -> dict:
        """The JWKS document: next, current and retired keys, public parameters only."""
        self.refresh_if_changed()
        return self._view.jwks

    def public_keyset(self) -> KeySet:
        """The published keys, to verify our own tokens (access tokens, ID token hints)."""
        self.refresh_if_changed()
        return self._view.keyset

    # -- Lifecycle steps (operator commands) -----------------------------------------------

    def all_keys(self) -> list[SigningKey]:
        """Every key in the directory, read afresh."""
        return self._read_all()

    def rotate(self, alg: str, now: int | None = None) -> list[KeyChange]:
        """Advance alg's lifecycle by one step: publish a next key if there is none; otherwise
        promote it if it may sign by now. Keys whose tokens have all expired go on the way."""
        now = _now(now)
        with self._editing() as keys:
            changes = self._tidy(keys, alg, now)
            upcoming = _newest(keys.values(), alg, NEXT)
            if upcoming is None:
                changes.append(self._publish_next(keys, alg, now))
            elif upcoming.activates_at <= now:
                changes.append(self._promote(keys, upcoming, now))
        return changes

    def rotate_now(self, alg: str, now: int | None = None) -> list[KeyChange]:
        """Emergency rotation: the next key (a new one if there is none) signs at once. Relying
        parties whose cached JWKS lacks it fetch the JWKS again on its unknown kid."""
        now = _now(now)
        with self._editing() as keys:
            changes = self._tidy(keys, alg, now)
            upcoming = _newest(keys.values(), alg, NEXT)
            if upcoming is None:
                changes.append(self._publish_next(keys, alg, now, "emergency"))
                upcoming = changes[-1].key
            changes.append(self._promote(keys, upcoming, now, "emergency"))
        return changes

    def rotate_if_due(self, alg: str, now: int | None = None) -> list[KeyChange]:
        """What a timer runs: promote a next key that may sign, publish a next key once the
        current one is older than the rotation age, remove expired keys; otherwise nothing."""
        now = _now(now)
        with self._editing() as keys:
            changes = self._tidy(keys, alg, now)
            current = _current_of(keys.values(), alg)
            upcoming = _newest(keys.values(), alg, NEXT)
            if current is None:
                changes.append(self._make_current(keys, alg, now, "emergency"))
            elif upcoming is not None:
                if upcoming.activates_at <= now:
                    changes.append(self._promote(keys, upcoming, now))
            elif now - current.activates_at >= self.policy.rotation_age:
                changes.append(self._publish_next(keys, alg, now))
        return changes

    def revoke(self, kid: str, now: int | None = None) -> list[KeyChange]:
        """Cut a compromised key off: unpublished and refused by every node as soon as it looks.
        A revoked current key is replaced by a new one at once."""
        now = _now(now)
        with self._editing() as keys:
            key = keys.get(kid)
            if key is None:
                raise LookupError(f"no key {kid!r} in {self.directory}")
            if key.state == REVOKED:
                raise ValueError(f"key {kid} is already revoked")
            changes = []
            current = _current_of(keys.values(), key.alg)
            if current is not None and current.kid == kid and key.alg in self.policy.algorithms:
                # The replacement first: a node reading in between never finds no current key.
                changes.append(self._make_current(keys, key.alg, now, "ok"))
            revoked = replace(
                key, state=REVOKED, revoked_at=now, removes_at=now + self.policy.retain
            )
            self._save(keys, revoked)
            changes.insert(0, KeyChange("key.revoked", "revoked", revoked))
        logger.critical(
            "SIGNING KEY REVOKED: %s (%s, was %s); tokens it signed are no longer accepted",
            kid,
            key.alg,
            key.state,
        )
        return changes

    def import_key(
        self, pem: bytes, alg: str, password: bytes | None = None, now: int | None = None
    ) -> KeyChange:
        """Add a PEM private key as alg's next key, encrypted with the store's passphrase."""
        if alg not in JWK_TYPES:
            raise ValueError(f"unsupported signing algorithm {alg}")
        try:
            private = serialization.load_pem_private_key(pem, password=password)
        except TypeError:
            raise ValueError(
                "the key is encrypted: give its passphrase"
                if password is None
                else "the key is not encrypted: give no passphrase"
            ) from None
        except ValueError:
            raise ValueError("not a PEM private key, or a wrong passphrase for it") from None
        _check_fits(private, alg)
        jwk = _jwk(private, alg)
        now = _now(now)
        with self._editing() as keys:
            if jwk.kid in keys:
                raise ValueError(f"key {jwk.kid} is already in the store")
            key = SigningKey(jwk.kid, alg, NEXT, now, now + self.policy.publish_ahead, jwk)
            self._save(keys, key)
        return KeyChange("key.imported", "ok", key)

    # -- Steps on the keys read under the lock ----------------------------------------------

    def _tidy(self, keys: dict[str, SigningKey], alg: str, now: int) -> list[KeyChange]:
        """Delete alg's keys whose tokens have all expired; retire a current key that a newer
        one superseded (a promotion interrupted half-way)."""
        changes = []
        current = _current_of(keys.values(), alg)
        for key in [k for k in keys.values() if k.alg == alg]:
            if key.state == CURRENT and current is not None and key.kid != current.kid:
                self._save(keys, self._retired(key, now))
                changes.append(KeyChange("key.retired", "ok", keys[key.kid]))
            elif key.state in (RETIRED, REVOKED) and key.removes_at and key.removes_at <= now:
                (self.directory / f"{key.kid}.json").unlink(missing_ok=True)
                del keys[key.kid]
                changes.append(KeyChange("key.removed", "ok", key))
        return changes

    def _publish_next(
        self, keys: dict[str, SigningKey], alg: str, now: int, outcome: str = "ok"
    ) -> KeyChange:
        key = _generate(alg, NEXT, now, activates_at=now + self.policy.publish_ahead)
        self._save(keys, key)
        return KeyChange("key.created", outcome, key)

    def _make_current(
        self, keys: dict[str, SigningKey], alg: str, now: int, outcome: str
    ) -> KeyChange:
        key = _generate(alg, CURRENT, now, activates_at=now)
        self._save(keys, key)
        return KeyChange("key.created", outcome, key)

    def _promote(
        self, keys: dict[str, SigningKey], upcoming: SigningKey, now: int, outcome: str = "ok"
    ) -> KeyChange:
        previous = _current_of(keys.values(), upcoming.alg)
        promoted = replace(upcoming, state=CURRENT, activates_at=now)
        # The new current key first: a node reading in between sees two current keys and
        # signs with the newer one, never with none.
        self._save(keys, promoted)
        if previous is not None:
            self._save(keys, self._retired(previous, now))
        retired = keys[previous.kid] if previous else None
        return KeyChange("key.rotated", outcome, promoted, retired)

    def _retired(self, key: SigningKey, now: int) -> SigningKey:
        return replace(key, state=RETIRED, retired_at=now, removes_at=now + self.policy.retain)

    def _replace_missing_current(self, alg: str) -> SigningKey:
        if alg not in self.policy.algorithms:
            raise ConfigError(f"cannot sign with {alg}: it is not one of IDP_KEY_ALGORITHMS")
        change = None
        with self._editing() as keys:
            if _current_of(keys.values(), alg) is None:  # or another node has just made one
                change = self._make_current(keys, alg, _now(None), "emergency")
        if change is not None:
            logger.critical(
                "no current %s signing key in %s: created %s at once",
                alg,
                self.directory,
                change.key.kid,
            )
            if self._on_change is not None:
                self._on_change(change)
        key = self._view.current.get(alg)
        if key is None:
            raise ConfigError(f"no current {alg} signing key in {self.directory}")
        return key

    # -- Files ------------------------------------------------------------------------------

    @contextmanager
    def _editing(self) -> Iterator[dict[str, SigningKey]]:
        """The keys as on disk, by kid, under the lock; what was written is in use at once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock():
            yield {key.kid: key for key in self._read_all()}
        self.refresh_if_changed(force=True)

    def _save(self, keys: dict[str, SigningKey], key: SigningKey) -> None:
        self._write(key)
        keys[key.kid] = key

    def _fingerprint(self) -> tuple:
        """Names, sizes, mtimes and inodes of the key files: changes when any key changes."""
        with os.scandir(self.directory) as entries:
            return tuple(
                sorted(
                    (entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ino)
                    for entry in entries
                    if entry.name.endswith(".json")
                    for stat in (entry.stat(),)
                )
            )

    def _read_all(self) -> list[SigningKey]:
        keys = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                keys.append(self._read(path))
            except FileNotFoundError:
                continue  # removed since the listing
        return sorted(keys, key=lambda k: (k.alg, k.created_at, k.kid))

    def _read(self, path: Path) -> SigningKey:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            pem = meta["private_key"]
            alg, state = meta["alg"], meta["state"]
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"signing key file {path} is unreadable: {exc}") from None
        if alg not in JWK_TYPES or state not in STATES:
            raise ConfigError(f"signing key file {path}: unknown alg {alg!r} or state {state!r}")
        jwk = _jwk(self._decrypt(path, pem), alg)
        created_at = int(meta["created_at"])
        return SigningKey(
            kid=meta["kid"],
            alg=alg,
            state=state,
            created_at=created_at,
            # Files written before the lifecycle existed have only created_at.
            activates_at=int(meta.get("activates_at") or created_at),
            jwk=jwk,
            retired_at=meta.get("retired_at"),
            removes_at=meta.get("removes_at"),
            revoked_at=meta.get("revoked_at"),
            encrypted_pem=pem,
        )

    def _decrypt(self, path: Path, pem: str):
        cache_key = hashlib.sha256(self._passphrase + b"\0" + pem.encode()).digest()
        private = _decrypted.get(cache_key)
        if private is None:
            try:
                private = serialization.load_pem_private_key(pem.encode(), self._passphrase)
            except (ValueError, TypeError):
                raise ConfigError(
                    f"cannot decrypt signing key {path.name}: wrong IDP_KEY_PASSPHRASE "
                    "(or IDP_KEY_PASSPHRASE_FILE) for this key store"
                ) from None
            _decrypted[cache_key] = private
        return private

    def _write(self, key: SigningKey) -> None:
        pem = (
            key.encrypted_pem
            or key.jwk.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self._passphrase),
            ).decode()
        )
        meta = {
            "kid": key.kid,
            "alg": key.alg,
            "state": key.state,
            "created_at": key.created_at,
            "activates_at": key.activates_at,
            "retired_at": key.retired_at,
            "removes_at": key.removes_at,
            "revoked_at": key.revoked_at,
            "private_key": pem,
        }
        target = self.directory / f"{key.kid}.json"
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        # Atomic replace: another node never reads half a key file.
        os.replace(temporary, target)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise changes between processes (and threads) sharing the directory."""
        with open(self.directory / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build_view(self, keys: list[SigningKey], fingerprint: tuple) -> _View:
        now = time.time()
        published = [key for key in keys if key.is_published(now)]
        public = [key.jwk.as_dict(private=False) for key in published]
        current = {alg: _current_of(keys, alg) for alg in {key.alg for key in keys}}
        leaving = [k.removes_at for k in published if k.state == RETIRED and k.removes_at]
        return _View(
            keys=tuple(keys),
            current={alg: key for alg, key in current.items() if key is not None},
            jwks={"keys": public},
            keyset=_PublishedKeySet(
                [JWK_TYPES[k.alg].import_key(d) for k, d in zip(published, public, strict=True)],
                self,
            ),
            fingerprint=fingerprint,
            valid_until=min(leaving, default=math.inf),
        )


class _PublishedKeySet(KeySet):
    """The published keys. A kid it does not know makes the store look at the directory at
    once before the token is refused: another node may have promoted a key a moment ago."""

    def __init__(self, keys: list, store: KeyStore):
        super().__init__(keys)
        self._store = store

    def get_by_kid(self, kid=None, parameters=None):
        try:
            return super().get_by_kid(kid, parameters)
        except InvalidKeyIdError:
            self._store.refresh_if_changed(force=True)
            latest = self._store._view.keyset
            if latest is self:
                raise
            return KeySet.get_by_kid(latest, kid, parameters)


# Decrypted private keys by digest of (passphrase, encrypted PEM): each key is decrypted once
# per process, however often its file is rewritten or a store is created (tests).
_decrypted: dict[bytes, Any] = {}


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def _current_of(keys: Iterable[SigningKey], alg: str) -> SigningKey | None:
    """The key that signs for alg: of its current keys, the one activated last."""
    return _newest(keys, alg, CURRENT)


def _newest(keys: Iterable[SigningKey], alg: str, state: str) -> SigningKey | None:
    candidates = [key for key in keys if key.alg == alg and key.state == state]
    return max(candidates, key=lambda k: (k.activates_at, k.created_at, k.kid), default=None)


def _generate(alg: str, state: str, now: int, activates_at: int) -> SigningKey:
    if alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ConfigError(f"unsupported signing algorithm {alg}")
    jwk = _jwk(private, alg)
    return SigningKey(jwk.kid, alg, state, now, activates_at, jwk)


def _jwk(private, alg: str) -> RSAKey | ECKey | OKPKey:
    """The private JWK for alg, its kid the RFC 7638 thumbprint: stable, unique, derived from
    the public key alone."""
    key_type = JWK_TYPES[alg]
    kid = key_type.import_key(private).thumbprint()
    return key_type.import_key(private, {"kid": kid, "alg": alg, "use": "sig"})


def _check_fits(private, alg: str) -> None:
    """An imported key must be of the kind we would have generated for alg."""
    if alg in ("RS256", "PS256"):
        fits = isinstance(private, rsa.RSAPrivateKey) and private.key_size >= RSA_KEY_SIZE
        wanted = f"an RSA key of at least {RSA_KEY_SIZE} bits"
    elif alg == "ES256":
        fits = isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
            private.curve, ec.SECP256R1
        )
        wanted = "an EC key on P-256"
    else:
        fits = isinstance(private, ed25519.Ed25519PrivateKey)
        wanted = "an Ed25519 key"
    if not fits:
        raise ValueError(f"{alg} needs {wanted}")
