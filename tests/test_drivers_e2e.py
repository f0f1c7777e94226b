"""End to end, once per driver: reproduce each fault of `lab demo` (the same `scenarios()` list) with
psycopg2, psycopg 3 and asyncpg on a real PostgreSQL, triage the driver's real error with
DATABASE_URL pointing at the broken setup, and assert the step test_triage_e2e confirms for psycopg2."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster, temporary_cluster
from neondoctor.lab.demo import DEMO_SPEC, app_source, scenarios
from neondoctor.triage.runbook import load_runbooks
from neondoctor.triage.walk import TriageOptions, triage

DRIVERS = ("psycopg2", "psycopg", "asyncpg")
FAULTS = [s.key for s in scenarios(demo=False)]
# What test_triage_e2e.py confirms for each fault (psycopg2): every driver must confirm the same.
EXPECTED = {
    "wrong-password": ("auth-failure", "wrong-credentials"),
    "refused-port": ("connect-failure", "port-closed"),
    "unresolvable-host": ("connect-failure", "host-does-not-resolve"),
    "tls-mismatch": ("connect-failure", "tls-mismatch"),
    "killed-backend": ("stale-connection", "no-pre-ping"),
    "full-slots": ("slot-exhaustion", "slots-full"),
    "leaked-checkout": ("pool-timeout", "leaked-checkout"),
}


@pytest.fixture(scope="module")
def demo_lab(primary_install: Any) -> Iterator[LabCluster]:
    with temporary_cluster(DEMO_SPEC, primary_install) as cluster:
        yield cluster


def test_the_fault_list_is_the_demo_list() -> None:
    assert sorted(FAULTS) == sorted(EXPECTED)
    assert {s.key for s in scenarios()} >= set(EXPECTED)  # the demo adds the URL-only faults


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("driver", DRIVERS)
def test_fault_confirms_the_same_step(demo_lab: LabCluster, driver: str, fault: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = next(s for s in scenarios(driver, demo=False) if s.key == fault)
    url = scenario.url(demo_lab)
    assert url.startswith(f"postgresql+{driver}://")
    with tempfile.TemporaryDirectory() as app_dir:
        (Path(app_dir) / "app.py").write_text(app_source(driver))
        with scenario.fault(demo_lab, url) as error:
            monkeypatch.setenv("DATABASE_URL", url)
            result = triage(error, load_runbooks(), TriageOptions(cwd=Path(app_dir), timeout=3))
    got = (result.runbook.id if result.runbook else None, result.verdict.status,
           result.verdict.step.id if result.verdict.step else None)
    assert got == (*EXPECTED[fault][:1], "confirmed", EXPECTED[fault][1]), (error, [
        (o.step.id, o.status, o.evidence) for o in result.steps])


@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
def test_lab_demo_in_another_driver(cli: Any, driver: str) -> None:
    proc = cli("lab", "demo", "--json", "--driver", driver, timeout=240)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert all(item["ok"] for item in data), [item["title"] for item in data if not item["ok"]]
