"""The ``eventline`` command: run the pipeline, its parts, the local broker, and the demo."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback

import typer
from pydantic import ValidationError

from eventline.cli.accounts import accounts_app, keys_app
from eventline.cli.importing import import_file
from eventline.cli.redrive import redrive
from eventline.cli.rules import clock_app, rules_app
from eventline.core.errors import EventlineError
from eventline.core.settings import Settings, explain, get_settings

app = typer.Typer(
    pretty_exceptions_enable=False,
    help="eventline: event tracking pipeline (gateway -> Kafka -> Faust -> ClickHouse). "
    "State (broker data, embedded ClickHouse, logs) lives in EVENTLINE_HOME, by default "
    ".eventline in the current folder.",
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
app.command("import")(import_file)
app.command("redrive")(redrive)


VERBOSE_FLAGS = ("-v", "--verbose")


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show info logs, and the traceback of a failure."
    ),
) -> None:
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


def _interrupt_on_sigterm() -> None:
    """SIGTERM acts as Ctrl-C while a pipeline starts or runs the demo: the exception unwinds
    through ``Pipeline.start``/``stop``, which stop every part started so far (Python's
    default for SIGTERM is to die on the spot, leaving the broker and the worker behind)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Their retries and reconnects are said once, by us, when they matter (the failure
        # line); librdkafka's "Coordinator load in progress" at every start is not news.
        for chatty in ("urllib3", "librdkafka", "clickhouse_connect"):
            logging.getLogger(chatty).setLevel(logging.ERROR)


@app.command()
def up(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Run the whole pipeline in the foreground until Ctrl-C."""
    from eventline.processes.pipeline import Pipeline

    _logging(verbose)
    settings = get_settings()
    _refuse_unsafe_exposure(settings)
    pipeline = Pipeline(settings)
    typer.echo(f"starting eventline from {settings.home.resolve()} (EVENTLINE_HOME)")
    _interrupt_on_sigterm()
    pipeline.start(say=lambda line: typer.echo(f"  {line}"))
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
    from eventline.processes.demo import run_demo

    _logging(verbose)
    _interrupt_on_sigterm()
    run_demo(get_settings(), keep_running=keep_running)


@app.command()
def worker() -> None:
    """Run only the Faust worker (Kafka to Kafka)."""
    from eventline.streams.__main__ import main

    main()


@app.command()
def gateway() -> None:
    """Run only the HTTP gateway (EVENTLINE_GATEWAY_PROCESSES processes on one port); its read
    endpoints need EVENTLINE_CLICKHOUSE_URL (embedded ClickHouse belongs to `eventline up`)."""
    from eventline.core.topics import ensure_topics
    from eventline.processes.gateways import GatewayProcesses
    from eventline.sinks.store import open_store

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
    from eventline.core.errors import ConfigurationError
    from eventline.producers.gateway.serving import check_exposure

    try:
        check_exposure(settings)
    except ConfigurationError as exc:
        typer.echo(f"eventline: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def sink() -> None:
    """Run only the ClickHouse sink (metrics on EVENTLINE_SINK_METRICS_PORT)."""
    from eventline.core.topics import ensure_topics
    from eventline.processes.pipeline import serve_metrics
    from eventline.schemas.accounts.service import Accounts
    from eventline.sinks.sink import ClickHouseSink
    from eventline.sinks.store import open_store

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
    from eventline.processes.broker import LocalKafka

    typer.echo(LocalKafka.from_settings(get_settings()).fetch())


@kafka_app.command("start")
def kafka_start() -> None:
    """Start the local broker (no-op when it runs) and wait until it answers."""
    from eventline.processes.broker import LocalKafka

    _logging(True)
    typer.echo(f"Kafka answers on {LocalKafka.from_settings(get_settings()).start()}")


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the local broker."""
    from eventline.processes.broker import LocalKafka

    broker = LocalKafka.from_settings(get_settings())
    if broker.pid() is None:
        typer.echo(f"no broker started from {broker.root.parent} runs ({broker.status()})")
        return
    broker.stop()
    typer.echo("Kafka stopped")


@kafka_app.command("status")
def kafka_status() -> None:
    """Say whether the local broker runs."""
    from eventline.processes.broker import LocalKafka

    broker = LocalKafka.from_settings(get_settings())
    typer.echo(broker.status())
    raise typer.Exit(0 if broker.pid() else 1)
