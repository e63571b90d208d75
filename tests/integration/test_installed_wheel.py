"""A normal (non-editable) install works (issue 13): the wheel, built as `pip install .` builds
it, goes into a fresh virtualenv, and the installed `eventline` runs the demo from a folder
outside the repository: broker, worker, sink and gateway start, events go through.

The fresh virtualenv does not download the dependencies again: the wheel is installed with
--no-deps, and a .pth file lists this test run's site-packages, which holds them. A .pth line
only appends a folder to sys.path (the .pth files inside that folder are not run), so the
editable install's finder there never runs; the repository is not on sys.path and no command
runs from inside it. The test checks that every package of ours resolves inside the fresh
virtualenv, not merely that it imports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventline.core.settings import Settings
from eventline.processes.broker import LocalKafka
from tests.integration.processes import PROJECT_ROOT, free_port, processes_of

pytestmark = pytest.mark.integration

# One import name: a user's own `schemas.py` (or PyPI's `schemas`) cannot shadow ours.
PACKAGES = ("eventline",)
# Package data the code reads at run time (eventline.schemas.codec, eventline.sinks.store,
# eventline.processes.broker), and the schema history the evolution check reads: each pattern
# must match in the wheel.
DATA = (
    "eventline/schemas/avro/*.avsc",
    "eventline/schemas/avro/history/*/*.avsc",
    "eventline/sinks/migrations/*.sql",
    "eventline/processes/kafka/pom.xml",
    "eventline/processes/kafka/log4j2.properties",
)
# Not part of a source tree as a clean clone has it (the build must not depend on them).
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".eventline", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".*_cache", ".hypothesis",
)  # fmt: skip


@dataclass(frozen=True)
class Installed:
    wheel: Path
    build_output: str
    venv: Path
    outside: Path  # the working folder of every command: not the repository

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return Path(self.run(str(self.python), "-c", _PURELIB).stdout.strip())

    def env(self, **extra: str) -> dict[str, str]:
        """This environment minus anything that could point Python or eventline elsewhere."""
        ours = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("EVENTLINE_", "PYTHON")) and k != "VIRTUAL_ENV"
        }
        path = f"{self.venv / 'bin'}{os.pathsep}{ours.get('PATH', '')}"
        return {**ours, "PATH": path, "VIRTUAL_ENV": str(self.venv), **extra}

    def run(
        self, *command: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=self.outside,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


_PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build leaves build/ in the repository, and stale modules
    # in build/lib would go into every later wheel.
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=_NOT_SOURCE)
    built = _pip("wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source))
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "dist").glob("eventline-*.whl")

    venv = root / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    done = _pip("--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel))
    assert done.returncode == 0, done.stdout + done.stderr

    outside = root / "outside"
    outside.mkdir()
    assert not outside.resolve().is_relative_to(PROJECT_ROOT.resolve())
    result = Installed(wheel, built.stdout + built.stderr, venv, outside)
    # The dependencies, from this run's site-packages (never the repository itself). They come
    # after the fresh site-packages on sys.path, and our packages are regular packages (one
    # folder each), so even a copy of ours there could not fill a module missing from the wheel.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (result.site_packages / "_eventline_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    return result


def test_the_wheel_builds_without_warnings_and_carries_every_module_and_data_file(
    installed: Installed,
) -> None:
    # The hand-kept package list of issue 13 printed ~120 lines of setuptools warnings
    # (Python warnings such as BuildBackendWarning, or distutils' "warning: ..."; pip's own
    # "WARNING:" lines, e.g. about its cache folder, are about the machine, not the project).
    warned = re.findall(r"\w+Warning\b.*|^\s*warning: .*", installed.build_output, re.MULTILINE)
    assert not warned, installed.build_output
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for pattern in DATA:
        assert any(Path(n).match(pattern) for n in names), f"no {pattern} in the wheel"
    tops = {name.split("/")[0] for name in names if not name.startswith("eventline-")}
    assert tops == set(PACKAGES), f"import names other than eventline in the wheel: {tops}"
    missing = [
        wheel_name
        for package in PACKAGES
        for wheel_name in _source_files(package)
        if wheel_name not in names
    ]
    assert not missing, f"not in the wheel: {missing}"


def _source_files(package: str) -> list[str]:
    """Every file the wheel must carry for ``package``, by its name in the wheel. The roles'
    folders are linked into eventline/ (the links are followed, as the build follows them)."""
    found = []
    for folder, dirs, files in os.walk(PROJECT_ROOT / package, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        relative = Path(folder).relative_to(PROJECT_ROOT)
        found += [str(relative / f) for f in files if Path(f).suffix not in (".pyc", ".md")]
    return sorted(found)


_PROBE = """
import importlib, importlib.metadata as md, json, pkgutil, sys
from packaging.requirements import Requirement
found = {}
for top in sys.argv[1:]:
    package = importlib.import_module(top)
    found[top] = package.__file__
    for info in pkgutil.walk_packages(package.__path__, top + "."):
        if not info.name.endswith(".__main__"):  # running it would start the command
            found[info.name] = importlib.import_module(info.name).__file__
unmet = []
for line in md.requires("eventline") or []:
    wanted = Requirement(line)
    if wanted.marker is None or wanted.marker.evaluate({"extra": ""}):
        have = md.version(wanted.name)
        if not wanted.specifier.contains(have, prereleases=True):
            unmet.append(f"{wanted} (have {have})")
finders = [type(f).__module__ + "." + type(f).__name__ for f in sys.meta_path]
print(json.dumps({"modules": found, "unmet": unmet, "finders": finders, "path": sys.path}))
"""


def test_every_module_imports_from_the_fresh_virtualenv_only(installed: Installed) -> None:
    probed = installed.run(str(installed.python), "-c", _PROBE, *PACKAGES)
    assert probed.returncode == 0, probed.stderr
    seen = json.loads(probed.stdout)
    site = installed.site_packages.resolve()
    elsewhere = {m: f for m, f in seen["modules"].items() if not Path(f).is_relative_to(site)}
    assert not elsewhere, f"imported from outside the fresh virtualenv: {elsewhere}"
    assert len(seen["modules"]) > 50  # every subpackage walked, not just the five tops
    assert not any("editable" in f for f in seen["finders"]), seen["finders"]
    repo = str(PROJECT_ROOT.resolve())
    assert repo not in seen["path"] and f"{repo}/" not in seen["path"]
    assert not seen["unmet"], f"the borrowed dependencies do not meet the wheel's: {seen['unmet']}"


def test_the_installed_command_runs_the_demo_from_outside_the_repository(
    installed: Installed,
) -> None:
    eventline = str(installed.venv / "bin" / "eventline")
    helped = installed.run(eventline, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "demo" in helped.stdout and "up" in helped.stdout

    home = installed.outside / "home"
    # Its own home and ports; only the broker jars are shared with `make kafka`.
    env = installed.env(
        EVENTLINE_HOME=str(home),
        EVENTLINE_KAFKA_JARS_DIR=str(LocalKafka.from_settings(Settings()).libs.resolve()),
        EVENTLINE_LOCAL_KAFKA_PORT=str(free_port()),
        EVENTLINE_LOCAL_KAFKA_CONTROLLER_PORT=str(free_port()),
        EVENTLINE_LOCAL_KAFKA_HEAP="384m",
        EVENTLINE_GATEWAY_PORT=str(free_port()),
        EVENTLINE_WORKER_METRICS_PORT=str(free_port()),
        EVENTLINE_SINK_METRICS_PORT=str(free_port()),
        EVENTLINE_GATEWAY_PROCESSES="1",
    )
    began = time.monotonic()
    demo = installed.run(eventline, "demo", env=env, timeout=240)
    took = time.monotonic() - began
    shown = f"after {took:.0f}s, exit {demo.returncode}\n{demo.stdout}\n{demo.stderr}"
    assert demo.returncode == 0, shown
    assert f"starting the local pipeline from {home.resolve()}" in demo.stdout, shown
    # Events went gateway -> Kafka -> worker -> sink -> ClickHouse and back out of the gateway.
    timeline = demo.stdout.split("== canonical events of ", 1)[-1].split("\n== ", 1)[0]
    assert "in ClickHouse (timeline, newest first; 4 events)" in timeline, shown
    for name in ("purchase", "viewed_product", "registered_referral", "file download request"):
        assert name in timeline, shown
    table = demo.stdout.split("== status of every event sent\n", 1)[-1].split("\n\n", 1)[0]
    rows = [line.split() for line in table.splitlines()[1:]]  # event_id, status, receipts
    assert len(rows) == 4 and all(row[1] == "processed" for row in rows), shown
    assert "after re-drive: processed" in demo.stdout, shown
    assert "abandoned-cart has 1 members" in demo.stdout, shown
    assert not processes_of(home), "the demo left processes running"
