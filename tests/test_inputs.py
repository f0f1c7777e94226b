"""Special files never block or run away: FIFOs and devices are refused (exit 2), a paste is capped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from neondoctor.errors import ConfigError
from neondoctor.inputs import PASTE_LIMIT, read_paste, read_text_file, require_regular

REFUSED = "psycopg2.OperationalError: connection to server at \"db\", port 5432 failed: Connection refused"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("args", [
    ("triage", "--no-probes", "--file", "{fifo}"),
    ("triage", "--log", "{fifo}"),
    ("--env-file", "{fifo}", "url"),
    ("triage", "--no-probes", "--env-file", "{fifo}", "--file", "{fifo}"),
    ("triage", "--no-probes", "--file", "/dev/zero"),
    ("triage", "--log", "/dev/zero"),
    ("--env-file", "/dev/zero", "url"),
])
def test_special_files_are_refused_quickly(cli: Any, fifo: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    argv = [a.format(fifo=fifo, dir=tmp_path) for a in args]
    start = time.monotonic()
    result = cli(*argv, timeout=30)
    assert time.monotonic() - start < 20
    assert result.returncode == 2, (argv, result.stdout, result.stderr)
    assert result.stderr.startswith("neondoctor: error:"), result.stderr
    assert "regular file" in result.stderr
    assert "Traceback" not in result.stderr


def test_dev_zero_on_stdin_is_refused(tmp_path: Path) -> None:
    for args in (["triage", "--no-probes"], ["triage", "--log", "-"]):
        with open("/dev/zero", "rb") as zero:
            result = subprocess.run([sys.executable, "-m", "neondoctor", *args], stdin=zero, capture_output=True,
                                    text=True, timeout=30, env={**os.environ, "NO_COLOR": "1"})
        assert result.returncode == 2, (args, result.stderr)
        assert "character device" in result.stderr


def test_endless_pipe_on_stdin_stops(tmp_path: Path) -> None:
    yes = subprocess.Popen(["yes", "INFO nothing to see"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run([sys.executable, "-m", "neondoctor", "triage", "--no-probes"], stdin=yes.stdout,
                                capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    finally:
        yes.kill()
        yes.wait()
    assert result.returncode == 2
    assert "MiB on stdin" in result.stderr


def test_a_paste_is_its_last_mebibyte(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "paste.txt"
    path.write_bytes(b"x" * (3 * PASTE_LIMIT) + b"\n" + REFUSED.encode() + b"\n")
    text = read_paste(path)
    assert len(text.encode()) <= PASTE_LIMIT and text.strip() == REFUSED
    result = cli("triage", "--no-probes", "--json", "--file", str(path))
    assert result.returncode == 0 and '"connect-failure"' in result.stdout


def test_regular_files_symlinks_and_stdin_are_accepted(tmp_path: Path) -> None:
    target = tmp_path / "real.env"
    target.write_text("DATABASE_URL=postgresql://u@h/d\n")
    link = tmp_path / "link.env"
    link.symlink_to(target)
    assert read_text_file(link, "env file").startswith("DATABASE_URL=")
    require_regular(target, "--log")
    with pytest.raises(ConfigError, match="is a directory"):
        require_regular(tmp_path, "--log")
    with pytest.raises(ConfigError, match="does not exist"):
        require_regular(tmp_path / "missing.log", "--log")


def test_a_huge_env_file_is_refused(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "big.env"
    path.write_bytes(b"# filler\n" * (PASTE_LIMIT // 4))
    result = cli("--env-file", str(path), "url")
    assert result.returncode == 2 and "larger than" in result.stderr
