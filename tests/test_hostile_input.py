"""Bad input is a documented exit code with a clear line, never an internal error (70) or a traceback.

Deeply nested JSON log lines, several hosts or an empty port in sanity, host names the IDNA codec
refuses, nan/inf for float options, an ASCII-only terminal, control characters in JUnit, and
configuration errors under --json. Servers involved are the real lab.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster, free_port
from neondoctor.render.sanity import to_junit
from neondoctor.sanity.sequence import SanityReport, StepResult

PASSWORD = "Hostile-Pw-7x9"
AUTH_ERROR = 'FATAL:  password authentication failed for user "app"'


def _clean(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "internal error" not in out
    for secret in (PASSWORD, *secrets):
        assert secret not in out


def _deep_json_line(depth: int) -> str:
    return '{"nested": ' + "[" * depth + "]" * depth + f', "message": {json.dumps(AUTH_ERROR)}}}'


@pytest.mark.parametrize("depth", [900, 5000, 200_000])
def test_deeply_nested_json_log_line(cli: Any, tmp_path: Path, depth: int) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("INFO start\n" + _deep_json_line(depth) + "\n")
    pasted = cli("triage", "--no-probes", "--file", str(path))
    assert pasted.returncode == 0, pasted.stderr
    assert "auth-failure" in pasted.stdout
    scanned = cli("triage", "--log", str(path))
    assert scanned.returncode == 0, scanned.stderr
    _clean(pasted)
    _clean(scanned)


@pytest.mark.parametrize(("netloc", "message"), [
    ("127.0.0.1:{port},127.0.0.1:{port}", "several hosts"),
    ("127.0.0.1:", "empty or invalid port"),
])
def test_sanity_with_several_hosts_or_an_empty_port(cli: Any, lab_primary: LabCluster, netloc: str,
                                                     message: str) -> None:
    url = f"postgresql+psycopg2://app:{PASSWORD}@{netloc.format(port=lab_primary.port)}/neondoctor_lab"
    proc = cli("sanity", env={"DATABASE_URL": url})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    _clean(proc)
    as_json = cli("sanity", "--json", env={"DATABASE_URL": url})
    assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2
    _clean(as_json)


@pytest.mark.parametrize("host", ["a..example.com", "x" * 300 + ".example.com"])
def test_latency_with_a_host_name_idna_refuses(cli: Any, host: str) -> None:
    proc = cli("latency", "--timeout", "2", env={"DATABASE_URL": f"postgresql://u:{PASSWORD}@{host}:5432/db"})
    assert proc.returncode == 4, proc.stderr
    assert "not a valid host name" in proc.stderr
    _clean(proc)


@pytest.mark.parametrize("args", [
    ("latency", "--timeout", "nan"),
    ("latency", "--timeout", "inf"),
    ("pool-stats", "--watch", "--interval", "nan"),
    ("pool-stats", "--watch", "--interval", "inf"),
    ("pool-stats", "--recycle", "nan"),
    ("pool-stats", "--warn-pct", "nan"),
])
def test_nan_and_inf_options_are_usage_errors(cli: Any, args: tuple[str, ...]) -> None:
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/db"
    proc = cli(*args, env={"DATABASE_URL": url})
    assert proc.returncode == 2, proc.stderr
    assert "is not a finite number" in proc.stderr or "is not in the range" in proc.stderr
    _clean(proc)
    as_json = cli(*args, "--json", env={"DATABASE_URL": url})
    assert as_json.returncode == 2
    doc = json.loads(as_json.stdout)
    assert doc["exit_code"] == 2 and doc["error"].startswith("Invalid value for")


@pytest.mark.parametrize("command", ["sanity", "pool-stats", "latency", "url", "triage"])
def test_configuration_errors_under_json_are_json(cli: Any, tmp_path: Path, command: str) -> None:
    args = [command, "--json"] + ([AUTH_ERROR, "--engine", "nope"] if command == "triage" else [])
    proc = cli(*args, cwd=tmp_path)  # no DATABASE_URL anywhere (triage: a malformed --engine)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 2 and doc["error"] and doc["error"] in proc.stderr
    _clean(proc)


def test_ascii_only_terminal(cli: Any, lab_primary: LabCluster) -> None:
    url = lab_primary.app_url(port=free_port())  # nothing listens: the report holds ✗ and –
    proc = cli("sanity", env={"DATABASE_URL": url, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 1, proc.stderr
    assert "\\u2717 health" in proc.stdout  # the mark, escaped instead of a crash
    _clean(proc, lab_primary.state.app_password)


def test_junit_with_control_characters_is_well_formed() -> None:
    report = SanityReport(database="postgresql://u:****@h/db\x1b[31m", dialect="postgresql",
                          metadata="app\x00.models:Base", token="t\x07")
    report.steps[0] = StepResult("health\x0b", status="failed", detail="bad \x1b[0m\x01\ud800 byte",
                                 error=f"FATAL:\x02 password={PASSWORD} and \x7f\x85")
    xml = to_junit(report)
    root = ET.fromstring(xml.encode("utf-8"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert "\\x02" in failure.get("message", "") and "\\x1b[0m" in (failure.text or "")
    assert root.find("testsuite/testcase").get("name") == "health\\x0b"
    assert PASSWORD not in xml


def test_junit_from_a_real_failure_with_control_characters(cli: Any, lab_primary: LabCluster,
                                                           tmp_path: Path) -> None:
    url = lab_primary.app_url(database="no\x1bsuch\x01db")
    proc = cli("sanity", "--junit", str(tmp_path / "j.xml"), env={"DATABASE_URL": url})
    assert proc.returncode == 1, proc.stderr
    text = (tmp_path / "j.xml").read_text(encoding="utf-8")
    root = ET.fromstring(text.encode("utf-8"))
    assert root.find("testsuite/testcase/failure") is not None
    assert lab_primary.state.app_password not in text
    _clean(proc, lab_primary.state.app_password)
