"""One running pipeline per home folder: a lock file that names its holder.

Two ``eventline up`` in one folder would share one broker data folder and one embedded
ClickHouse; the second now stops at once and says who holds the folder. The lock is an
``flock`` on ``<home>/eventline.lock``: the kernel releases it when the holder dies, so a
crashed pipeline never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from eventline.core.errors import EventlineError


class AlreadyRunning(EventlineError):
    """Another eventline process holds this home folder."""


class HomeLock:
    """The lock of one home folder, held from ``acquire`` until ``release`` or exit."""

    def __init__(self, home: Path) -> None:
        self.path = home.resolve() / "eventline.lock"
        self._handle: IO[str] | None = None

    def acquire(self, what: str) -> None:
        """Hold the folder for ``what`` (e.g. "eventline up"), or raise AlreadyRunning."""
        if self._handle is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Appending does not erase the holder's pid before the lock is tried.
        handle = open(self.path, "a+")  # noqa: SIM115 - kept open while held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"eventline already runs from {self.path.parent} ({holder}): stop it first "
                "(Ctrl-C in its terminal, or kill that pid), or set EVENTLINE_HOME to "
                "another folder"
            ) from None
        handle.truncate(0)
        handle.write(f"{what}, pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.truncate(0)
        self._handle.close()  # closing the file releases the flock
        self._handle = None
