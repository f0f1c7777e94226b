"""Loading and validating runbooks: shipped ones, user directories, and every kind of mistake at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage.probes import PROBES
from neondoctor.triage.runbook import load_runbooks, shipped_runbooks_dir, validate_dir

SHIPPED_IDS = ["neon-platform-limits", "neon-compute-unreachable", "pooler-server-login", "auth-failure",
               "pooler-prepared-statements", "pooler-startup-parameter", "pooler-query-wait-timeout",
               "pooler-client-limit", "pooler-timeouts", "pooler-session-state", "slot-exhaustion", "missing-driver",
               "pool-timeout", "idle-in-transaction-timeout", "stale-connection", "connect-failure"]

GOOD = """
id: my-book
title: Mine
order: 5
match:
  - name: boom
    contains: kaboom happened
steps:
  - id: check-env
    cause: no url
    probe: env
    fix: set it
"""


def test_shipped_runbooks_load_in_order() -> None:
    books = load_runbooks()
    assert [b.id for b in books] == SHIPPED_IDS
    assert shipped_runbooks_dir().is_dir()
    for book in books:
        assert book.steps and book.conditions
        for step in book.steps:
            assert step.probe in PROBES
            assert step.is_manual or step.fix


def test_every_probe_is_used_by_a_shipped_runbook() -> None:
    used = {s.probe for b in load_runbooks() for s in b.steps}
    assert used == set(PROBES)


def test_user_dir_is_merged_by_order(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(GOOD)
    books = load_runbooks([tmp_path])
    assert books[0].id == "my-book"
    assert [b.id for b in books[1:]] == SHIPPED_IDS


def test_all_problems_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("""
id: bad-one
title: Bad
colour: red
match:
  - name: r
    regex: '(unclosed'
  - name: n
    regex: '(a+)+b'
  - name: o
    startswith: x
steps:
  - id: s1
    cause: c
    probe: no_such_probe
    fix: f
  - id: s1
    cause: c
    probe: env
    fix: f
    extra: 1
""")
    (tmp_path / "b.yaml").write_text(GOOD.replace("order: 5\n", ""))
    (tmp_path / "c.yaml").write_text(GOOD.replace("id: my-book", "id: auth-failure"))
    with pytest.raises(ConfigError) as info:
        load_runbooks([tmp_path])
    msg = str(info.value)
    assert info.value.exit_code == 2
    for expected in ["a.yaml: colour: unknown key", "a.yaml: match[0].regex: regex does not compile",
                     "a.yaml: match[1].regex: nested quantifier", "a.yaml: match[2].startswith: unknown operator",
                     "a.yaml: steps[0].probe: unknown probe 'no_such_probe'", "a.yaml: steps[1].extra: unknown key",
                     "a.yaml: steps[1].id: duplicate step id", "b.yaml: order: missing",
                     "c.yaml: id: duplicate runbook id 'auth-failure'"]:
        assert expected in msg, expected


def test_validate_dir_and_cache_sees_changes(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    assert validate_dir(tmp_path)[0].title == "Mine"
    path.write_text(GOOD.replace("title: Mine", "title: Changed"))
    assert validate_dir(tmp_path)[0].title == "Changed"
    path.write_text(GOOD.replace("probe: env", "probe: envv"))
    with pytest.raises(ConfigError, match="unknown probe 'envv'"):
        validate_dir(tmp_path)


def test_probe_params_are_validated(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD.replace("probe: env", "probe: slots\n    params: {threshold: 3}"))
    with pytest.raises(ConfigError, match=r"steps\[0\].params: unknown parameter 'threshold'"):
        validate_dir(tmp_path)


def test_probe_param_values_are_checked_up_front(tmp_path: Path) -> None:
    """A value a probe does not declare fails validation, naming file, key path and the allowed values."""
    steps = """
  - {id: s0, cause: c, probe: pooler, params: {check: poold}, fix: f}
  - {id: s1, cause: c, probe: slots, params: {threshold_pct: ninety}, fix: f}
  - {id: s2, cause: c, probe: url, params: {checks: [parse, sheme]}, fix: f}
  - {id: s3, cause: c, probe: idle_sessions, params: {state: idle in transaction, min_count: true}, fix: f}
  - {id: s4, cause: c, probe: server_timeouts, params: {setting: statement_timeout}, fix: f}
"""
    (tmp_path / "x.yaml").write_text(GOOD.split("steps:")[0] + "steps:" + steps)
    with pytest.raises(ConfigError) as info:
        validate_dir(tmp_path)
    msg = str(info.value)
    assert info.value.exit_code == 2
    for expected in [
        "x.yaml: steps[0].params.check: 'poold' is not one of: pooled, prepared_statements, client_limit",
        "x.yaml: steps[1].params.threshold_pct: 'ninety' is not an integer or a number",
        "x.yaml: steps[2].params.checks: 'sheme' is not one of: parse, params, scheme, asyncpg_ssl, neon_ssl",
        "x.yaml: steps[3].params.min_count: True is not an integer",
        "x.yaml: steps[4].params.setting: 'statement_timeout' is not one of: idle_session_timeout, "
        "idle_in_transaction_session_timeout",
    ]:
        assert expected in msg, (expected, msg)
    assert msg.startswith("5 runbook problems")


def test_probe_param_values_in_the_cli(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(GOOD.replace("probe: env", "probe: engine\n    params: {check: prePing}"))
    bad = cli("runbooks", "validate", str(tmp_path))
    assert bad.returncode == 2
    assert "x.yaml: steps[0].params.check: 'prePing' is not one of: pre_ping, pool_capacity" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_required_param_and_declared_choices() -> None:
    from neondoctor.triage.probes.base import Param, Probe, ProbeResult

    probe = Probe(id="demo", summary="s", run=lambda ctx, params: ProbeResult.ruled_out("x"),
                  params={"mode": Param(str, ("a", "b"), required=True), "n": Param((int, float))})
    assert probe.check_params({"mode": "a", "n": 2.5}) == []
    assert probe.check_params({}) == [("mode", "missing: probe 'demo' needs it")]
    assert probe.check_params({"mode": "c", "n": False, "x": 1}) == [
        ("mode", "'c' is not one of: a, b"), ("n", "False is not an integer or a number"),
        (None, "unknown parameter 'x' for probe 'demo' (allowed: mode, n)")]


def test_installed_wheel_finds_shipped_runbooks(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh target dir, load runbooks from there."""
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(["uv", "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(repo)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {out.stderr[-300:]}")
    wheel = next((tmp_path / "dist").glob("*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "zipfile", "-e", str(wheel), str(target)], check=True, timeout=60)
    code = ("import neondoctor.triage.runbook as r; d = r.shipped_runbooks_dir(); "
            "print(d); print(len(r.load_runbooks()))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert res.returncode == 0, res.stderr
    where, count = res.stdout.split()
    assert where.startswith(str(target)) and where.endswith("_runbooks")
    assert count == str(len(SHIPPED_IDS))


def test_cli_list_show_validate(cli: Any, tmp_path: Path) -> None:
    listed = cli("runbooks", "list", "--json")
    assert listed.returncode == 0
    assert [b["id"] for b in json.loads(listed.stdout)] == SHIPPED_IDS
    shown = cli("runbooks", "show", "auth-failure")
    assert shown.returncode == 0 and "wrong-credentials [probe auth]" in shown.stdout
    assert cli("runbooks", "show", "nope").returncode == 2
    assert cli("runbooks", "validate").returncode == 0
    (tmp_path / "mine.yaml").write_text(GOOD)
    ok = cli("runbooks", "validate", str(tmp_path))
    assert ok.returncode == 0 and "my-book" in ok.stdout
    merged = cli("runbooks", "list", "--runbooks-dir", str(tmp_path))
    assert merged.stdout.splitlines()[1].split()[:2] == ["5", "my-book"]
    (tmp_path / "bad.yaml").write_text(GOOD.replace("id: my-book", "id: other").replace("contains:", "regex:")
                                       .replace("kaboom happened", "(x*)*y").replace("probe: env", "probe: nope"))
    bad = cli("runbooks", "validate", str(tmp_path))
    assert bad.returncode == 2
    assert "bad.yaml: match[0].regex: nested quantifier" in bad.stderr
    assert "bad.yaml: steps[0].probe: unknown probe 'nope'" in bad.stderr


def test_all_operator_and_contains_tolerate_wrapping(tmp_path: Path) -> None:
    from neondoctor.triage.matcher import Matcher

    (tmp_path / "all.yaml").write_text(GOOD.replace("contains: kaboom happened",
                                                    "all: [pool exhausted, worker 7]"))
    matcher = Matcher(validate_dir(tmp_path))
    found = matcher.match("worker 7 said:\n  pool\n   exhausted now")
    assert found is not None and found.text == "pool exhausted" and found.condition.operator == "all"
    assert matcher.match("pool exhausted") is None
    (tmp_path / "all.yaml").write_text(GOOD)
    assert Matcher(validate_dir(tmp_path)).match("KABOOM\n   happened").text == "KABOOM happened"


def test_validating_the_shipped_directory_itself_is_clean(cli: Any) -> None:
    from neondoctor.triage.runbook import shipped_runbooks_dir

    result = cli("runbooks", "validate", str(shipped_runbooks_dir()))
    assert result.returncode == 0, result.stderr
    assert "6 runbook(s) valid" in result.stdout


def test_disk_cache_never_hides_an_edit(tmp_path: Path, cli: Any) -> None:
    """Validated runbooks are cached on disk by content: a fresh process still sees every edit."""
    cache = tmp_path / "cache"
    mine = tmp_path / "mine"
    mine.mkdir()
    good = ("id: replica-lag\ntitle: t\norder: 55\nmatch:\n  - {name: m, contains: conflict with recovery}\n"
            "steps:\n  - {id: s1, cause: c, probe: tcp, fix: f}\n")
    (mine / "r.yaml").write_text(good)
    env = {"XDG_CACHE_HOME": str(cache)}
    first = cli("triage", "--no-probes", "--runbooks-dir", str(mine), "ERROR: conflict with recovery", env=env)
    assert first.returncode == 0, first.stderr
    assert list((cache / "neondoctor" / "runbooks").glob("*.pickle"))
    again = cli("triage", "--no-probes", "--runbooks-dir", str(mine), "ERROR: conflict with recovery", env=env)
    assert again.returncode == 0 and "replica-lag" in again.stdout  # served from the cache
    (mine / "r.yaml").write_text(good.replace("probe: tcp", "probe: no-such-probe"))
    broken = cli("triage", "--no-probes", "--runbooks-dir", str(mine), "ERROR: conflict with recovery", env=env)
    assert broken.returncode == 2
    assert "no-such-probe" in broken.stderr
