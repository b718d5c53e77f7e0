"""The signing-key store: one encrypted file per key in a directory every node reads.

Each key is a JSON file ``<kid>.json`` holding its metadata (kid, alg, state, created_at) and its
private key as PKCS#8 PEM encrypted with the deployment's passphrase (cryptography's best
available encryption), so a copy of the directory alone reveals nothing. The rest of the provider
asks only for "the key that signs with ALG" and "the public keys to verify with"; the lifecycle of
states and rotation commands build on these same files.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, KeySet, RSAKey

from .config import SIGNING_ALGORITHMS, ConfigError

CURRENT = "current"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    state: str
    created_at: int
    jwk: RSAKey | ECKey


class KeyStore:
    """Reads and creates the deployment's signing keys; caches them in memory."""

    def __init__(self, directory: Path, passphrase: bytes):
        if not passphrase:
            raise ConfigError("the key store needs a passphrase (IDP_KEY_PASSPHRASE)")
        self.directory = directory
        self._passphrase = passphrase
        self._keys: dict[str, SigningKey] = {}
        self._jwks: dict = {"keys": []}
        self._public_keyset = KeySet([])

    def load(self) -> None:
        """Read every key file; a key that cannot be decrypted stops start-up with its name."""
        keys = {}
        for path in sorted(self.directory.glob("*.json")):
            key = self._read(path)
            keys[key.kid] = key
        self._keys = keys
        public = [key.jwk.as_dict(private=False) for key in keys.values()]
        self._jwks = {"keys": public}
        self._public_keyset = KeySet(
            [type(k.jwk).import_key(d) for k, d in zip(keys.values(), public, strict=True)]
        )

    def ensure_current(self, algorithms: tuple[str, ...] = SIGNING_ALGORITHMS) -> None:
        """Create a current key for each algorithm that has none (first start of a deployment)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock():
            self.load()
            missing = [alg for alg in algorithms if not self._current(alg)]
            for alg in missing:
                self._write(_generate(alg))
            if missing:
                self.load()

    def signing_key(self, alg: str) -> SigningKey:
        key = self._current(alg)
        if key is None:
            raise ConfigError(f"no current signing key for {alg} in {self.directory}")
        return key

    def public_jwks(self) -> dict:
        """The JWKS document: public parameters only, each key with kid, alg and use."""
        return self._jwks

    def public_keyset(self) -> KeySet:
        """Public keys to verify our own tokens (ID token hints, access tokens)."""
        return self._public_keyset

    def _current(self, alg: str) -> SigningKey | None:
        current = [k for k in self._keys.values() if k.alg == alg and k.state == CURRENT]
        return max(current, key=lambda k: k.created_at, default=None)

    def _read(self, path: Path) -> SigningKey:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            pem = meta["private_key"].encode()
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"signing key file {path} is unreadable: {exc}") from None
        try:
            private = serialization.load_pem_private_key(pem, password=self._passphrase)
        except (ValueError, TypeError):
            raise ConfigError(
                f"cannot decrypt signing key {path.name}: wrong IDP_KEY_PASSPHRASE "
                "(or IDP_KEY_PASSPHRASE_FILE) for this key store"
            ) from None
        params = {"kid": meta["kid"], "alg": meta["alg"], "use": "sig"}
        jwk = (RSAKey if meta["alg"].startswith(("RS", "PS")) else ECKey).import_key(
            private, params
        )
        return SigningKey(meta["kid"], meta["alg"], meta["state"], int(meta["created_at"]), jwk)

    def _write(self, key: SigningKey) -> None:
        pem = key.jwk.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        meta = {
            "kid": key.kid,
            "alg": key.alg,
            "state": key.state,
            "created_at": key.created_at,
            "private_key": pem.decode(),
        }
        target = self.directory / f"{key.kid}.json"
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2)
        # Atomic replace: another node never reads half a key file.
        os.replace(temporary, target)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise key creation between processes sharing the directory."""
        with open(self.directory / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _generate(alg: str) -> SigningKey:
    if alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAKey.import_key(private)
    elif alg == "ES256":
        jwk = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    else:
        raise ConfigError(f"unsupported signing algorithm {alg}")
    # RFC 7638 thumbprint as kid: stable, unique, derived from the public key alone.
    kid = jwk.thumbprint()
    params = {"kid": kid, "alg": alg, "use": "sig"}
    jwk = type(jwk).import_key(jwk.private_key, params)
    return SigningKey(kid, alg, CURRENT, int(time.time()), jwk)
