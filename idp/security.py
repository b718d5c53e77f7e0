"""Hashing and comparison of secrets, in one place.

Two kinds of secret, two tools:
- what people choose (passwords, security answers) is hashed with argon2id, slow on purpose;
- what the provider generates with 256 bits of entropy (client secrets, refresh tokens, codes,
  session secrets) is stored as a SHA-256 digest: guessing is already hopeless, and a slow hash
  would only cost throughput.
All comparisons of secrets are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


def generate_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret with nbytes of entropy."""
    return secrets.token_urlsafe(nbytes)


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


class Passwords:
    """argon2id hashing with the configured cost; verifies the same work for unknown accounts."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
        )
        # Verified against when the account does not exist, so the answer takes as long.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "time_cost": self._hasher.time_cost,
            "memory_cost": self._hasher.memory_cost,
            "parallelism": self._hasher.parallelism,
        }

    def hash(self, password: str) -> str:
        return self._hasher.hash(_normalize(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; with no stored hash, does the same work and says False."""
        try:
            matches = self._hasher.verify(stored_hash or self._dummy_hash, _normalize(password))
            return matches and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
