"""Hashing and comparison of secrets, in one place.

Two kinds of secret, two tools:
- what people choose (passwords, security answers) is hashed with argon2id, slow on purpose;
- what the provider generates with 256 bits of entropy (client secrets, refresh tokens, codes,
  session secrets) is stored as a SHA-256 digest: guessing is already hopeless, and a slow hash
  would only cost throughput.
All comparisons of secrets are constant-time.

argon2id is slow on purpose and costs ARGON2_MEMORY_COST KiB per hash while it runs, so a burst of
hashes could exhaust a worker's memory. Every hash and verification therefore takes one of a
fixed number of slots per process (ARGON2_MEMORY_BUDGET / ARGON2_MEMORY_COST); one that cannot
get a slot within ARGON2_QUEUE_TIMEOUT is refused with HashingBusy (HTTP 503), never queued
without end.

Secrets that must wait before they can be hashed (a registration's password and security answer,
until its codes are confirmed) are sealed: encrypted under a key of their own, kept apart from
the ciphertext, so neither place alone reveals them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# AES-GCM's standard nonce: 96 bits, random (one message per key, so no reuse).
_NONCE_BYTES = 12
# What a refused hash suggests as Retry-After (seconds): an argon2id hash takes well under a
# second, so slots free up quickly once a burst has passed.
HASHING_RETRY_AFTER = 5


def generate_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with nbytes of entropy."""
    return secrets.token_urlsafe(nbytes)


def generate_client_id() -> str:
    """A random client identifier (16 bytes, URL-safe) that never starts with "-": operators
    pass client ids to commands (`idp clients disable ID`), which would read one as an option."""
    while True:
        client_id = secrets.token_urlsafe(16)
        # One in 64 starts with "-"; drawing again keeps every other id equally likely.
        if not client_id.startswith("-"):
            return client_id


def digest(secret: str) -> str:
    """SHA-256 hex digest of a generated secret, the form it is stored in."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, stored_digest: str | None) -> bool:
    """Constant-time check of a presented generated secret against its stored digest."""
    if not secret or not stored_digest:
        return False
    return hmac.compare_digest(digest(secret), stored_digest)


def equal(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _normalize(secret: str) -> str:
    """NIST SP 800-63B §5.1.1.2: NFKC, so the same password typed on another keyboard (a
    composed or decomposed "ë") still matches."""
    return unicodedata.normalize("NFKC", secret)


class SealBroken(ValueError):
    """Sealed data that does not open with the key given: altered, truncated or another key."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def seal(data: dict, key: str | None = None) -> tuple[str, str]:
    """Encrypt a JSON-ready dict with AES-256-GCM under a fresh random key (or key, from
    derived_key): (sealed, key).

    Keep the two apart (the sealed text in the short-lived store, the key in the person's
    session cookie): neither alone reveals the data, and GCM's tag refuses any change to it.
    """
    raw_key = AESGCM.generate_key(bit_length=256) if key is None else base64.urlsafe_b64decode(key)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = AESGCM(raw_key).encrypt(nonce, json.dumps(data).encode("utf-8"), None)
    return _b64encode(nonce + ciphertext), _b64encode(raw_key)


def derived_key(secret: str, purpose: str) -> str:
    """A seal() key that only the holder of secret (a generated, high-entropy secret such as a
    refresh token) can derive again: HKDF-SHA256, one key per purpose."""
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose.encode("utf-8"))
    return _b64encode(hkdf.derive(secret.encode("utf-8")))


def unseal(sealed: str, key: str) -> dict:
    """The dict that seal() returned `sealed` and `key` for; SealBroken for anything else."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        aesgcm = AESGCM(base64.urlsafe_b64decode(key.encode("ascii")))
        plaintext = aesgcm.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None)
    except (InvalidTag, ValueError, binascii.Error, AttributeError, UnicodeError):
        # AttributeError: not a string at all (a missing key is None).
        raise SealBroken("the sealed data does not open with this key") from None
    return json.loads(plaintext)


class HashingBusy(RuntimeError):
    """Every argon2id slot of this process stayed taken for ARGON2_QUEUE_TIMEOUT seconds.

    Answered with HTTP 503 and Retry-After (idp.web.overload): refusing one request is better
    than letting a burst of hashes take the worker's memory and slow every sign-in down.
    """

    retry_after = HASHING_RETRY_AFTER


class Passwords:
    """argon2id hashing with the configured cost; verifies the same work for unknown accounts.

    At most `slots` hashes and verifications run at once in this process, so that argon2id's
    memory stays within `memory_budget` KiB; a caller waits at most `queue_timeout` seconds for
    a slot, then gets HashingBusy.
    """

    def __init__(
        self,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        *,
        memory_budget: int,
        queue_timeout: float,
    ):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        # memory_cost is the whole memory of one hash, whatever its parallelism (RFC 9106 §3.1).
        self.slots = max(1, memory_budget // memory_cost)
        self._slots = threading.BoundedSemaphore(self.slots)
        self._queue_timeout = queue_timeout
        # Verified against when the account does not exist, so the answer takes as long.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._hasher.time_cost,
            "memory_cost": self._hasher.memory_cost,
            "parallelism": self._hasher.parallelism,
        }

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of this process's argon2id slots; HashingBusy if none frees up in time."""
        if not self._slots.acquire(timeout=self._queue_timeout):
            raise HashingBusy("every argon2id slot of this process is taken")
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str) -> str:
        with self.slot():
            return self._hasher.hash(_normalize(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; with no stored hash, does the same work and says False."""
        with self.slot():
            try:
                matches = self._hasher.verify(stored_hash or self._dummy_hash, _normalize(password))
                return matches and bool(stored_hash)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
