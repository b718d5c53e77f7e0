"""The SQL backend of the short-lived store: one table, atomic by single statements."""

from __future__ import annotations

import json
import random
import time

from sqlalchemy import String, Text, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..models import db
from . import Counter

# Expired rows are removed by the writers themselves, about once in this many writes.
PURGE_EVERY = 200


class ShortLivedState(db.Model):
    __tablename__ = "short_lived_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    # Atomic counters (lockout, throttles, attempts) use this column; values leave it at 0.
    counter: Mapped[int] = mapped_column(default=0, server_default="0")
    expires_at: Mapped[float] = mapped_column(index=True)


class SqlStore:
    """Store on the application's database (SQLite or PostgreSQL)."""

    def put(self, key: str, value: dict, ttl: float) -> None:
        self._maybe_purge()
        row = ShortLivedState(key=key, value=json.dumps(value), expires_at=time.time() + ttl)
        db.session.merge(row)
        db.session.commit()

    def add(self, key: str, value: dict, ttl: float) -> bool:
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

    def incr(self, key: str, ttl: float) -> Counter:
        # One upsert statement: concurrent callers each get a distinct value, on SQLite (where
        # writers are serialised) and on PostgreSQL (row lock of ON CONFLICT DO UPDATE).
        now = time.time()
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        table = ShortLivedState.__table__
        expired = table.c.expires_at <= now
        statement = dialect.insert(table).values(
            key=key, value="{}", counter=1, expires_at=now + ttl
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "counter": case((expired, 1), else_=table.c.counter + 1),
                "expires_at": case((expired, now + ttl), else_=table.c.expires_at),
            },
        ).returning(table.c.counter, table.c.expires_at)
        value, expires_at = db.session.execute(statement).one()
        db.session.commit()
        return Counter(value, expires_at)

    def decr(self, key: str) -> None:
        db.session.execute(
            update(ShortLivedState)
            .where(
                ShortLivedState.key == key,
                ShortLivedState.counter > 0,
                ShortLivedState.expires_at > time.time(),
            )
            .values(counter=ShortLivedState.counter - 1)
        )
        db.session.commit()

    def count(self, key: str) -> Counter | None:
        row = db.session.execute(
            select(ShortLivedState.counter, ShortLivedState.expires_at).where(
                ShortLivedState.key == key, ShortLivedState.expires_at > time.time()
            )
        ).one_or_none()
        db.session.commit()
        return None if row is None else Counter(row[0], row[1])

    def extend(self, key: str, ttl: float) -> None:
        db.session.execute(
            update(ShortLivedState)
            .where(ShortLivedState.key == key, ShortLivedState.expires_at > time.time())
            .values(expires_at=time.time() + ttl)
        )
        db.session.commit()

    def _maybe_purge(self) -> None:
        if random.randrange(PURGE_EVERY) == 0:  # noqa: S311 - load spreading, not security
            db.session.execute(
                delete(ShortLivedState).where(ShortLivedState.expires_at <= time.time())
            )
