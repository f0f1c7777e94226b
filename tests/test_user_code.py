"""User code cannot pass a gate: a hostile --metadata / --engine module ends in exit 2, bounded in time.

Every case runs the real `neondoctor` in a subprocess against the real lab (a reachable server, so
an exit 0 could only come from the module), and checks the exit code, the absence of a traceback
and of the password, and that no JUnit report pretends a pass.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from neondoctor.lab.cluster import LabCluster
from neondoctor.loader import MIN_IMPORT_S

MODULES = {
    "exit0": "import sys\nsys.exit(0)\n",
    "exit5": "import sys\nsys.exit(5)\n",
    "interrupt": "raise KeyboardInterrupt\n",
    "boom": "raise RuntimeError('broken at import')\n",
    "loop": "while True:\n    pass\n",
    "sleeper": "import time\ntime.sleep(3600)\n",
}
# Each command with its hostile-module option and its shortest --timeout (the import gets MIN_IMPORT_S).
COMMANDS = {
    "sanity": ("sanity", "--timeout", "2", "--junit", "j.xml", "--metadata"),
    "triage": ("triage", "--timeout", "2", "server closed the connection unexpectedly", "--engine"),
    "pool-stats": ("pool-stats", "--connect-timeout", "2", "--engine"),
}
ATTRS = {"sanity": "Base", "triage": "engine", "pool-stats": "engine"}


def _run(cli: Any, cwd: Path, url: str, *args: str, env: dict[str, str] | None = None
         ) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = cli(*args, env={"DATABASE_URL": url, **(env or {})}, cwd=cwd, timeout=60)
    return proc, time.monotonic() - start


def _assert_clean(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    for secret in secrets:
        assert secret not in out


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("module", list(MODULES))
def test_hostile_module_is_a_configuration_error(cli: Any, lab_primary: LabCluster, tmp_path: Path,
                                                 command: str, module: str) -> None:
    name = f"hostile_{module}"
    (tmp_path / f"{name}.py").write_text(MODULES[module])
    args = (*COMMANDS[command], f"{name}:{ATTRS[command]}")
    proc, elapsed = _run(cli, tmp_path, lab_primary.app_url(), *args)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"{name!r}" in proc.stderr  # the message names the module
    if module in ("loop", "sleeper"):
        assert f"did not finish within {MIN_IMPORT_S:g}s" in proc.stderr
        assert elapsed < MIN_IMPORT_S + 15, elapsed  # the deadline plus interpreter start-up on a busy machine
    if module.startswith("exit"):
        assert "sys.exit" in proc.stderr
    assert not (tmp_path / "j.xml").exists()  # no report that could be read as a pass
    _assert_clean(proc, lab_primary.state.app_password)


def test_module_output_is_redacted_and_kept_off_stdout(cli: Any, lab_primary: LabCluster, tmp_path: Path) -> None:
    # The module prints the password split across a flush, then exits 0 at import.
    (tmp_path / "chatty.py").write_text(
        "import os, sys\nfrom urllib.parse import urlsplit, unquote\n"
        "pw = unquote(urlsplit(os.environ['DATABASE_URL']).password)\n"
        "print('the url is', os.environ['DATABASE_URL'])\nprint('pw', pw)\nsys.exit(0)\n")
    proc, _ = _run(cli, tmp_path, lab_primary.app_url(), "pool-stats", "--json", "--engine", "chatty:engine")
    assert proc.returncode == 2
    _assert_clean(proc, lab_primary.state.app_password)
    import json

    assert json.loads(proc.stdout) == {"error": proc.stderr.split("error: ", 1)[1].strip(), "exit_code": 2}


def test_a_thread_left_running_by_the_module_does_not_hold_the_process(cli: Any, lab_primary: LabCluster,
                                                                        tmp_path: Path) -> None:
    (tmp_path / "threaded.py").write_text(
        "import os, threading, time\nfrom sqlalchemy import create_engine\n"
        "threading.Thread(target=time.sleep, args=(3600,)).start()  # not a daemon\n"
        "engine = create_engine(os.environ['DATABASE_URL'], pool_size=3)\n")
    proc, elapsed = _run(cli, tmp_path, lab_primary.app_url(), "pool-stats", "--engine", "threaded:engine")
    assert proc.returncode in (0, 1), proc.stderr
    assert "QueuePool size 3" in proc.stdout
    assert elapsed < 30
    _assert_clean(proc, lab_primary.state.app_password)


def test_a_good_metadata_module_still_passes(cli: Any, lab_primary: LabCluster, tmp_path: Path) -> None:
    db = "user_code_ok"
    lab_primary.execute(f'DROP DATABASE IF EXISTS "{db}"')
    lab_primary.execute(f'CREATE DATABASE "{db}" OWNER app')
    try:
        (tmp_path / "goodmodels.py").write_text(
            "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n"
            "class Base(DeclarativeBase):\n    pass\n"
            "class Thing(Base):\n    __tablename__ = 'thing'\n    id: Mapped[int] = mapped_column(primary_key=True)\n")
        with lab_primary.connect(user="app", database=db) as conn, conn.cursor() as cur:  # the app's migration
            cur.execute("CREATE TABLE thing (id serial PRIMARY KEY)")
        proc, _ = _run(cli, tmp_path, lab_primary.app_url(database=db), "sanity", "--junit", "j.xml",
                       "--metadata", "goodmodels:Base")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (tmp_path / "j.xml").exists()
        _assert_clean(proc, lab_primary.state.app_password)
    finally:
        lab_primary.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_ctrl_c_still_interrupts_a_stuck_import(lab_primary: LabCluster, tmp_path: Path) -> None:
    import os
    import signal
    import sys

    (tmp_path / "stuck.py").write_text("open('started', 'w').close()\nwhile True:\n    pass\n")
    env = {**os.environ, "DATABASE_URL": lab_primary.app_url(), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "neondoctor", "sanity", "--timeout", "5", "--metadata", "stuck:Base"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the command is inside the import
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "interrupted" in err and "Traceback" not in out + err
