"""Short-lived state: pending authorization requests, authorization codes, SSO sessions, replay
caches. One small interface; the backend is chosen at start-up (SQL by default, so one command
runs everything on a laptop).

Values are JSON-serialisable dicts. Every entry expires; expired entries are never returned.
"""

from __future__ import annotations

from typing import Protocol


class Store(Protocol):
    def put(self, key: str, value: dict, ttl: int) -> None:
        """Set key to value for ttl seconds, replacing any earlier value."""

    def add(self, key: str, value: dict, ttl: int) -> bool:
        """Set key only if it is absent (or expired); False if it already exists (replay)."""

    def get(self, key: str) -> dict | None:
        """The live value of key, or None."""

    def take(self, key: str) -> dict | None:
        """Atomically read and delete key: of two concurrent callers, only one gets the value."""

    def delete(self, key: str) -> None:
        """Remove key if present."""
