"""The development outbox: every message becomes one JSON line in a file instead of an SMS or an
e-mail, so that a developer (or a test) can read the one-time codes.

Each line is {"to", "channel", "text", "sent_at"} and nothing else: tests and tools parse it.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from idp.delivery import DeliveryError, Message


class OutboxSender:
    """Appends messages to a JSON-lines file shared safely by several processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def send(self, message: Message) -> None:
        record = {
            "to": message.to,
            "channel": message.channel,
            "text": message.text,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            # The outbox holds live one-time codes: private to the provider's user.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with open(fd, "ab") as outbox:
                # Several workers append to the same file; the lock keeps each line whole even
                # where O_APPEND alone would not (large lines, network file systems). Closing
                # the file flushes the line first and then releases the lock.
                fcntl.flock(outbox, fcntl.LOCK_EX)
                outbox.write(line.encode("utf-8"))
        except OSError as exc:
            raise DeliveryError(f"outbox {self.path} not writable: {exc.strerror}") from exc
