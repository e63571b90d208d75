"""The ``eventline`` command: run the pipeline, its parts, the local broker, and the demo."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback

import typer
from pydantic import ValidationError

from eventline.cli_accounts import accounts_app, keys_app
from eventline.cli_rules import clock_app, rules_app
from eventline.errors import EventlineError
from eventline.settings import Settings, explain, get_settings

app = typer.Typer(
    pretty_exceptions_enable=False,
    help="eventline: event tracking pipeline (gateway -> Kafka -> Faust -> ClickHouse).",
    no_args_is_help=True,
)
kafka_app = typer.Typer(
    pretty_exceptions_enable=False, help="The project's local single-node Kafka broker (KRaft)."
)
app.add_typer(kafka_app, name="kafka")
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(rules_app, name="rules")
app.add_typer(clock_app, name="clock")


VERBOSE_FLAGS = ("-v", "--verbose")


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show info logs, and the traceback of a failure."
    ),
) -> None:
    """eventline: event tracking pipeline (gateway -> Kafka -> Faust -> ClickHouse)."""
    if verbose:
        _logging(True)


def main() -> None:
    """The installed ``eventline`` command: a failure is one line saying what failed and what
    to do; ``--verbose`` adds the traceback."""
    verbose = any(arg in VERBOSE_FLAGS for arg in sys.argv[1:])
    try:
        app()
    except ValidationError as exc:
        _fail(f"a setting is not valid: {explain(exc)}", verbose, code=2)
    except EventlineError as exc:
        _fail(str(exc), verbose, code=1)
    except Exception as exc:
        hint = "" if verbose else "; `eventline --verbose ...` shows where"
        _fail(f"unexpected {type(exc).__name__}: {exc}{hint}", verbose, code=1)


def _fail(line: str, verbose: bool, code: int) -> None:
    if verbose:
        traceback.print_exc()
    typer.echo(f"eventline: {line}", err=True)
    raise SystemExit(code)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def up(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Run the whole pipeline in the foreground until Ctrl-C."""
    from eventline.pipeline import Pipeline

    _logging(verbose)
    settings = get_settings()
    _refuse_unsafe_exposure(settings)
    pipeline = Pipeline(settings)
    pipeline.start()
    typer.echo(
        f"eventline is up: gateway {pipeline.gateway.url if pipeline.gateway else ''} "
        f"(docs at /docs, metrics at /metrics); Ctrl-C stops it"
    )
    pipeline.run_until_signal()


@app.command()
def demo(
    keep_running: bool = typer.Option(False, help="Leave the pipeline running afterwards."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Start the pipeline, send a few events, print what came out, stop."""
    from eventline.demo import run_demo

    _logging(verbose)
    run_demo(get_settings(), keep_running=keep_running)


@app.command()
def worker() -> None:
    """Run only the Faust worker (Kafka to Kafka)."""
    from streams.__main__ import main

    main()


@app.command()
def gateway() -> None:
    """Run only the HTTP gateway (EVENTLINE_GATEWAY_PROCESSES processes on one port); its read
    endpoints need EVENTLINE_CLICKHOUSE_URL (embedded ClickHouse belongs to `eventline up`)."""
    from eventline.topics import ensure_topics
    from producers.gateway.processes import GatewayProcesses
    from sinks.store import open_store

    _logging(False)
    settings = get_settings()
    _refuse_unsafe_exposure(settings)
    ensure_topics(settings)
    if not settings.uses_embedded_clickhouse:
        open_store(settings)  # migrated once here, before the processes read
    processes = GatewayProcesses(settings)
    processes.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo(f"eventline gateway on {processes.url}, {settings.gateway_processes} processes")
    try:
        while not stop.wait(1.0):
            processes.restart_dead()
    finally:
        processes.stop()


def _refuse_unsafe_exposure(settings: Settings) -> None:
    """Exit with the reason when the gateway would serve open access beyond loopback."""
    from eventline.errors import ConfigurationError
    from producers.gateway.serving import check_exposure

    try:
        check_exposure(settings)
    except ConfigurationError as exc:
        typer.echo(f"eventline: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def sink() -> None:
    """Run only the ClickHouse sink (metrics on EVENTLINE_SINK_METRICS_PORT)."""
    from eventline.pipeline import serve_metrics
    from eventline.topics import ensure_topics
    from producers.accounts.service import Accounts
    from sinks.sink import ClickHouseSink
    from sinks.store import open_store

    _logging(True)
    settings = get_settings()
    ensure_topics(settings)
    accounts = Accounts(settings)  # erased event types
    accounts.start()
    runner = ClickHouseSink(settings, open_store(settings), erased=accounts.erased_event_types)
    serve_metrics(settings.sink_metrics_port)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()


@kafka_app.command("fetch")
def kafka_fetch() -> None:
    """Resolve the pinned Kafka broker jars from Maven Central into the cache folder."""
    from eventline.local_kafka import LocalKafka

    typer.echo(LocalKafka.from_settings(get_settings()).fetch())


@kafka_app.command("start")
def kafka_start() -> None:
    """Start the local broker (no-op when it runs) and wait until it answers."""
    from eventline.local_kafka import LocalKafka

    _logging(True)
    typer.echo(f"Kafka answers on {LocalKafka.from_settings(get_settings()).start()}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker."""
    from eventline.local_kafka import LocalKafka

    LocalKafka.from_settings(get_settings()).stop()
    typer.echo("Kafka stopped")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs."""
    from eventline.local_kafka import LocalKafka

    broker = LocalKafka.from_settings(get_settings())
    pid = broker.pid()
    typer.echo(f"running, pid {pid}, {broker.bootstrap}" if pid else "stopped")
    raise typer.Exit(0 if pid else 1)
