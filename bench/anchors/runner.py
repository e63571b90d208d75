"""Running the anchors from the benchmark: each in a process of its own, on the run's broker,
with topics of its own; the same load generator as eventline's gateway for the HTTP ones."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import bodies, loadgen
from bench.anchors import (
    chdb_insert,
    faust_agent,
    plain_loop,
    produce,
    starlette_echo,
    starlette_kafka,
)
from bench.common import make_topics
from bench.procs import call, free_port, serving


@dataclass(frozen=True)
class Sizes:
    produced: int  # records of the raw produce anchor, the input of the consuming anchors
    consumed: int  # records the plain loop and the Faust agent go through
    inserted: int  # rows of the raw insert anchor


class Anchors:
    """The anchors of one run; the raw produce anchor also fills the consumers' input."""

    def __init__(
        self, bootstrap: str, prefix: str, partitions: int, home: Path, sizes: Sizes
    ) -> None:
        self.bootstrap, self.home, self.sizes = bootstrap, home, sizes
        home.mkdir(parents=True, exist_ok=True)
        self.partitions = partitions
        self.source, self.http = f"{prefix}.source", f"{prefix}.http"
        self.outputs = (f"{prefix}.events", f"{prefix}.status")
        make_topics(bootstrap, [self.source, self.http, *self.outputs], partitions)
        self.filled = False
        self.runs = 0

    def _next(self, name: str) -> Path:
        self.runs += 1
        return self.home / f"{name}-{self.runs}"

    def starlette(self, with_kafka: bool, n: int, concurrency: int, processes: int) -> float:
        """Requests/s of single posts to the bare Starlette app, or to Starlette + Kafka ack."""
        port = free_port()
        server = (
            partial(starlette_kafka.serve, port, self.bootstrap, self.http)
            if with_kafka
            else partial(starlette_echo.serve, port)
        )
        with serving(server, port=port) as url:
            make_body = partial(bodies.event, run="anchor")
            return loadgen.throughput(
                loadgen.Target(url), make_body, n, concurrency, processes
            ).per_s

    def raw_produce(self) -> float:
        rate = call(produce.produce, self.bootstrap, self.source, self.sizes.produced)
        self.filled = True
        return float(rate)

    def _input(self) -> None:
        if not self.filled:
            self.raw_produce()

    def plain_loop(self) -> float:
        self._input()
        return float(
            call(
                plain_loop.plain_loop,
                self.bootstrap,
                self.source,
                self.outputs,
                min(self.sizes.consumed, self.sizes.produced),
            )
        )

    def faust_agent(self) -> float:
        self._input()
        return float(
            call(
                faust_agent.faust_agent,
                self.bootstrap,
                self.source,
                min(self.sizes.consumed, self.sizes.produced),
                self.partitions,
                str(self._next("faust")),
            )
        )

    def chdb_insert(self) -> float:
        return float(call(chdb_insert.chdb_insert, str(self._next("chdb")), self.sizes.inserted))
