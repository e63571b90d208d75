"""Real Kafka and real ClickHouse, started once per test run.

- EVENTLINE_TEST_KAFKA_BOOTSTRAP / EVENTLINE_TEST_CLICKHOUSE_URL: use those servers.
- else, when a Docker engine answers: testcontainers (Kafka, ClickHouse server).
- else: the project's local KRaft broker (jars cached in .eventline/) and embedded chDB.
Each run gets its own topic prefix, so runs never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from eventline.core.settings import Settings
from eventline.processes.broker import LocalKafka
from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.processes import free_port

STRICT = "strict"  # an account whose unknown-contact policy is 'fail'

pytestmark = pytest.mark.integration


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def docker() -> bool:
    return _docker_answers()


@pytest.fixture(scope="session")
def kafka_bootstrap(docker: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("EVENTLINE_TEST_KAFKA_BOOTSTRAP"):
        yield os.environ["EVENTLINE_TEST_KAFKA_BOOTSTRAP"]
        return
    if docker:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    defaults = LocalKafka.from_settings(Settings())  # shares the jar cache of `make kafka`
    broker = LocalKafka(
        root=tmp_path_factory.mktemp("kafka"),
        version=defaults.version,
        port=free_port(),
        controller_port=free_port(),
        heap="512m",
        jars=defaults.libs,
    )
    yield broker.start()
    broker.stop()


@pytest.fixture(scope="session")
def clickhouse_url(docker: bool) -> Iterator[str | None]:
    if os.environ.get("EVENTLINE_TEST_CLICKHOUSE_URL"):
        yield os.environ["EVENTLINE_TEST_CLICKHOUSE_URL"]
        return
    if docker:
        from testcontainers.clickhouse import ClickHouseContainer

        with ClickHouseContainer() as container:
            yield container.get_connection_url().replace("clickhouse://", "http://")
        return
    yield None  # embedded chDB, owned by this test process


@pytest.fixture(scope="session")
def settings(
    kafka_bootstrap: str, clickhouse_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        home=tmp_path_factory.mktemp("home"),
        kafka_bootstrap=kafka_bootstrap,
        clickhouse_url=clickhouse_url,
        clickhouse_database=f"eventline_test_{run}",
        topic_prefix=f"test-{run}",
        partitions=3,
        gateway_port=free_port(),
        worker_metrics_port=free_port(),
        sink_metrics_port=free_port(),
        unknown_contact_by_account={STRICT: "fail"},
        sink_batch_wait_s=0.2,
        worker_session_timeout_s=10.0,
        stall_after_s=2.0,
        # Time-based segments are tested by moving the deployment's clock, never by sleeping.
        clock="adjustable",
        segment_check_interval_s=0.3,
    )


@pytest.fixture(scope="session")
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    running = Pipeline(settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def store(pipeline: Pipeline) -> Store:
    assert pipeline.store is not None
    return pipeline.store


@pytest.fixture
def http(pipeline: Pipeline) -> Iterator[httpx.Client]:
    assert pipeline.gateway is not None
    with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
        yield client
