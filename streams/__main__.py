"""Run the worker: ``python -m eventline.streams`` (or ``eventline worker``)."""

from __future__ import annotations

import logging
import os
import sys

from prometheus_client import start_http_server

from eventline.core.children import WATCH_PARENT, exit_with_parent
from eventline.core.settings import get_settings
from eventline.core.topics import ensure_topics
from eventline.schemas.clock_topic import follow_clock
from eventline.streams.agents import attach_agents
from eventline.streams.app import create_worker

_LEVELS = {
    "crit": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


def main() -> None:
    """Create the topics if needed, read the rules and accounts, then run the Faust worker in
    the foreground."""
    if os.environ.get(WATCH_PARENT):
        exit_with_parent()  # started by `eventline up`: never outlive it
    settings = get_settings()
    ensure_topics(settings)
    follow_clock(settings)
    worker = create_worker(settings)
    worker.accounts.start()  # tracking switches and whitelists
    worker.rules.start()
    attach_agents(worker)
    # Faust's worker filters by level at its handler only: without a level on the loggers,
    # every record of every debug call was built and then dropped (a tenth of the agents' time).
    level = _LEVELS[settings.worker_log_level]
    for name in ("eventline", "aiokafka", "faust", "mode"):
        logging.getLogger(name).setLevel(level)
    start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    sys.argv = [sys.argv[0], "worker", "--loglevel", settings.worker_log_level, "--without-web"]
    worker.app.main()


if __name__ == "__main__":
    main()
