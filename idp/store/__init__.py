"""Short-lived state: pending authorization requests, authorization codes, SSO sessions, replay
caches. One small interface; the backend is chosen at start-up (SQL by default, so one command
runs everything on a laptop).

Values are JSON-serialisable dicts. Every entry expires; expired entries are never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Counter:
    value: int
    expires_at: float


class Store(Protocol):
    def put(self, key: str, value: dict, ttl: float) -> None:
        """Set key to value for ttl seconds, replacing any earlier value."""

    def add(self, key: str, value: dict, ttl: float) -> bool:
        """Set key only if it is absent (or expired); False if it already exists (replay)."""

    def get(self, key: str) -> dict | None:
        """The live value of key, or None."""

    def take(self, key: str) -> dict | None:
        """Atomically read and delete key: of two concurrent callers, only one gets the value."""

    def delete(self, key: str) -> None:
        """Remove key (a value or a counter) if present."""

    def incr(self, key: str, ttl: float) -> Counter:
        """Atomically add one to a counter and return it. A missing or expired counter starts
        at 1 and lives ttl seconds; later increments do not extend it."""

    def decr(self, key: str) -> None:
        """Atomically take one from a live counter, never below zero (a slot given back)."""

    def count(self, key: str) -> Counter | None:
        """The live counter under key, or None."""

    def extend(self, key: str, ttl: float) -> None:
        """Let a live counter (or value) expire ttl seconds from now."""
