"""Child processes that do not outlive the process that started them."""

from __future__ import annotations

import os
import signal
import threading
import time

# Set by a parent for its child: the child stops when the parent is gone.
WATCH_PARENT = "EVENTLINE_STOP_WITH_PARENT"


def exit_with_parent() -> None:
    """SIGTERM this process (a clean stop) once its parent is gone, e.g. SIGKILLed: a child
    left running would hold its ports, its group membership and its data folder."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
