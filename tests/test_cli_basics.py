"""The CLI shell itself: help, version, lazy imports, unknown commands, internal errors."""

from __future__ import annotations

import subprocess
import sys

from neondoctor.cli import COMMANDS


def test_help_lists_every_command(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout


def test_help_imports_no_database_stack() -> None:
    code = (
        "import sys; from neondoctor.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'psycopg2', 'yaml') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY=\n" in out


def test_unknown_command_is_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_bad_log_format_env_is_config_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("url", "postgresql+psycopg2://u@localhost/db", env={"NEONDOCTOR_LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert "NEONDOCTOR_LOG_FORMAT" in result.stderr
    assert "Traceback" not in result.stderr
