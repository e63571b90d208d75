"""Static group membership: a stable name for each consumer process, so that a process that
starts again after a crash takes its partitions back at once.

Without it, the dead member holds its partitions until its session times out
(EVENTLINE_WORKER_SESSION_TIMEOUT_S), and a restarted worker or sink waited 30 to 45 s. With
it (Kafka's ``group.instance.id``), the new process presents the dead one's name and the group
hands it the same partitions without waiting. The name must be unique among live processes:
each process claims a numbered slot with a lock file under the home folder, freed when the
process dies, so a restart gets the same slot and two processes side by side get two.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
from typing import IO

from eventline.core.settings import Settings

MAX_SLOTS = 64
_held: dict[str, tuple[IO[str], int]] = {}  # group -> (lock file kept open, its slot)


def instance_id(settings: Settings, group: str) -> str:
    """This process's member name in consumer ``group``: claimed once, kept until exit.
    ``EVENTLINE_INSTANCE_ID`` replaces the host and home part (not the slot: replicas that
    share the setting still get one name each)."""
    where = str(settings.home.resolve())
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]
    named = settings.instance_id or f"{host}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"
    base = f"{group}-{named}"
    if group in _held:
        return f"{base}-{_held[group][1]}"
    folder = settings.home.resolve() / "instances"
    folder.mkdir(parents=True, exist_ok=True)
    safe_group = re.sub(r"[^A-Za-z0-9._-]", "_", group)
    for slot in range(MAX_SLOTS):
        # Appending does not erase a live holder's pid before the lock is tried.
        handle = open(folder / f"{safe_group}-{slot}.lock", "a")  # noqa: SIM115 (kept open)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        _held[group] = (handle, slot)
        return f"{base}-{slot}"
    raise RuntimeError(f"more than {MAX_SLOTS} processes of group {group} under {folder}")
