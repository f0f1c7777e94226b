"""Where DATABASE_URL comes from, and how each bad configuration is reported (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neondoctor.errors import ConfigError
from neondoctor.settings import load_database_url

# A local URL with a bounded timeout: the url command finds nothing and exits 0.
LOCAL = "postgresql+psycopg2://app:{pw}@localhost:5432/{db}?connect_timeout=5"


def _url(db: str = "app") -> str:
    return LOCAL.format(pw="Ls8-" + "settings", db=db)


def _database(result: Any) -> str:
    assert result.returncode in (0, 1), result.stderr
    return str(json.loads(result.stdout)["database"])


def _one_line_error(result: Any) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_from_environment(cli: Any) -> None:
    assert _database(cli("url", "--json", env={"DATABASE_URL": _url("fromenv")})) == "fromenv"


def test_from_env_file_found_upward(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"# app settings\nDATABASE_URL={_url('fromdotenv')}\n")
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert _database(cli("url", "--json", cwd=deep)) == "fromdotenv"


def test_environment_beats_dotenv(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL={_url('fromdotenv')}\n")
    assert _database(cli("url", "--json", env={"DATABASE_URL": _url("fromenv")}, cwd=tmp_path)) == "fromenv"


@pytest.mark.parametrize("before", [True, False], ids=["before-subcommand", "after-subcommand"])
def test_explicit_env_file(cli: Any, tmp_path: Path, before: bool) -> None:
    other = tmp_path / "conf" / "staging.env"
    other.parent.mkdir()
    other.write_text(f"DATABASE_URL='{_url('staging')}'\n")
    (tmp_path / ".env").write_text(f"DATABASE_URL={_url('fromdotenv')}\n")
    args = ("--env-file", str(other), "url", "--json") if before else ("url", "--json", "--env-file", str(other))
    # An explicit file wins even over the environment: the user asked for it by name.
    assert _database(cli(*args, env={"DATABASE_URL": _url("fromenv")}, cwd=tmp_path)) == "staging"


def test_missing_everywhere(cli: Any, tmp_path: Path) -> None:
    line = _one_line_error(cli("url", cwd=tmp_path))
    assert "DATABASE_URL" in line and ".env" in line


def test_missing_env_file(cli: Any, tmp_path: Path) -> None:
    line = _one_line_error(cli("--env-file", str(tmp_path / "nope.env"), "url"))
    assert "nope.env" in line and "does not exist" in line


def test_unreadable_env_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"DATABASE_URL=\xff\xfe\x00broken\n")
    line = _one_line_error(cli("url", cwd=tmp_path))
    assert ".env" in line and "cannot be read" in line


def test_malformed_env_file(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL={_url()}\nthis line is not a setting\n")
    line = _one_line_error(cli("url", cwd=tmp_path))
    assert "malformed" in line and "line 2" in line


def test_empty_value(cli: Any, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=\n")
    assert "empty" in _one_line_error(cli("url", cwd=tmp_path))
    assert "empty" in _one_line_error(cli("url", env={"DATABASE_URL": "   "}, cwd=tmp_path))


@pytest.mark.parametrize("raw,expected", [
    ("not a url at all", "no scheme"),
    ("host=db.example.com dbname=app user=app", "key=value DSN"),
    ("mysql://app@db.example.com/app", "dialect 'mysql' is not PostgreSQL"),
    ("postgresql+psycopg2://app@db.example.com:54x2/app", "port '54x2'"),
    ("postgresql+psycopg2://app@db.example.com:70000/app", "between 1 and 65535"),
    ("postgresql+psycopg2://app@[::1/app", "unbalanced '['"),
    ("postgresql+psycopg2://app@::1]/app", "unbalanced ']'"),
])
def test_malformed_url(cli: Any, raw: str, expected: str) -> None:
    for result in (cli("url", raw), cli("url", env={"DATABASE_URL": raw})):
        assert expected in _one_line_error(result)


def test_load_database_url_reports_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text(f"DATABASE_URL={_url('x')}\n")
    assert load_database_url().source == str(env)
    monkeypatch.setenv("DATABASE_URL", _url("y"))
    assert load_database_url().source == "environment"
    monkeypatch.delenv("DATABASE_URL")
    env.unlink()
    assert load_database_url(required=False) is None
    with pytest.raises(ConfigError):
        load_database_url()
