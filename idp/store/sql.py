"""The SQL backend of the short-lived store: one table, atomic by single statements."""

from __future__ import annotations

import json
import random
import time

from sqlalchemy import String, Text, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..models import db

# Expired rows are removed by the writers themselves, about once in this many writes.
PURGE_EVERY = 200


class ShortLivedState(db.Model):
    __tablename__ = "short_lived_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(index=True)


class SqlStore:
    """Store on the application's database (SQLite or PostgreSQL)."""

    def put(self, key: str, value: dict, ttl: int) -> None:
        self._maybe_purge()
        row = ShortLivedState(key=key, value=json.dumps(value), expires_at=time.time() + ttl)
        db.session.merge(row)
        db.session.commit()

    def add(self, key: str, value: dict, ttl: int) -> bool:
        self._maybe_purge()
        now = time.time()
        # An expired entry under the same key must not block the new one.
        db.session.execute(
            delete(ShortLivedState).where(
                ShortLivedState.key == key, ShortLivedState.expires_at <= now
            )
        )
        try:
            db.session.execute(
                insert(ShortLivedState).values(
                    key=key, value=json.dumps(value), expires_at=now + ttl
                )
            )
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    def get(self, key: str) -> dict | None:
        value = db.session.execute(
            select(ShortLivedState.value).where(
                ShortLivedState.key == key, ShortLivedState.expires_at > time.time()
            )
        ).scalar()
        db.session.commit()
        return None if value is None else json.loads(value)

    def take(self, key: str) -> dict | None:
        # DELETE ... RETURNING is one atomic statement on SQLite >= 3.35 and PostgreSQL.
        value = db.session.execute(
            delete(ShortLivedState)
            .where(ShortLivedState.key == key, ShortLivedState.expires_at > time.time())
            .returning(ShortLivedState.value)
        ).scalar()
        db.session.commit()
        return None if value is None else json.loads(value)

    def delete(self, key: str) -> None:
        db.session.execute(delete(ShortLivedState).where(ShortLivedState.key == key))
        db.session.commit()

    def _maybe_purge(self) -> None:
        if random.randrange(PURGE_EVERY) == 0:  # noqa: S311 - load spreading, not security
            db.session.execute(
                delete(ShortLivedState).where(ShortLivedState.expires_at <= time.time())
            )
