"""The probe registry: every module of triage/probes is a probe found by its own id, with its own test module,
loaded only when needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage import probes
from neondoctor.triage.probes import PROBES, get_probe, probe_modules, registry

REPO = Path(__file__).resolve().parent.parent
PROBES_DIR = REPO / "neondoctor" / "triage" / "probes"


def test_every_module_is_a_probe_named_by_its_own_id() -> None:
    files = {p.stem for p in PROBES_DIR.glob("*.py")} - {"__init__", "base"}
    assert set(probe_modules()) == files
    assert {pid: p.id for pid, p in registry().items()} == {name: name for name in files}
    assert set(PROBES) == files - {"target"}  # the walk's own probe is no runbook step


def test_every_probe_has_a_test_module_and_says_what_it_asks() -> None:
    for pid, probe in registry().items():
        assert (REPO / "tests" / "probes" / f"test_{pid}.py").is_file(), f"tests/probes/test_{pid}.py is missing"
        module = sys.modules[f"neondoctor.triage.probes.{pid}"]
        assert (module.__doc__ or "").strip(), f"probes/{pid}.py: the docstring says what the probe asks"
        assert probe.summary
        for key, param in probe.params.items():
            assert param.help, f"probes/{pid}.py: parameter {key!r} says what it does"


def test_the_readme_lists_every_probe_with_its_params() -> None:
    """README "Adding a probe": one table row per probe, naming each parameter and its allowed values."""
    section = (REPO / "README.md").read_text().split("## Adding a probe", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("`")[1]: line for line in section.splitlines() if line.startswith("| `")}
    assert set(rows) == set(PROBES)
    for pid, probe in PROBES.items():
        for key, param in probe.params.items():
            assert f"`{key}`" in rows[pid], (pid, key)
            if "..." not in rows[pid]:
                assert all(str(choice) in rows[pid] for choice in param.choices), (pid, key)


def test_an_unknown_probe_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown probe 'tpc' \\(known: app_settings, auth,") as info:
        get_probe("tpc")
    assert info.value.exit_code == 2
    with pytest.raises(AttributeError):
        probes.NO_SUCH_NAME  # noqa: B018


def test_triage_without_probes_imports_no_probe_module(tmp_path: Path) -> None:
    """Listing the probes is lazy: a warm `triage --no-probes` imports none of them (start-up time)."""
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('LOADED', sorted(m for m in sys.modules\n"
            "    if m.startswith('neondoctor.triage.probes.')), file=sys.__stderr__))\n"
            "sys.argv = ['neondoctor', 'triage', '--no-probes', sys.argv[1]]\n"
            "from neondoctor.cli import main\n"
            "main()\n")
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    cmd = [sys.executable, "-c", code, 'FATAL:  password authentication failed for user "app"']

    def loaded() -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert proc.returncode == 0 and "auth-failure" in proc.stdout, proc.stderr[-500:]
        return proc.stderr.split("LOADED ", 1)[1].strip()

    cold = loaded()  # validating the runbooks reads every probe's declared parameters
    assert "'neondoctor.triage.probes.auth'" in cold and "'neondoctor.triage.probes.pooler'" in cold
    assert loaded() == "['neondoctor.triage.probes.base']"  # served from the cache: no probe module
