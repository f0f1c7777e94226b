"""Every command, on a success path and a failure path, in both log formats: the password never shows.

The DATABASE_URL holds a distinctive password (with URL-special characters, so it also travels
percent-encoded); a real lab role has that password, so the success path really logs in.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from neondoctor.cli import COMMANDS
from neondoctor.lab.cluster import LabCluster, free_port

PASSWORD = "Lk9-" + "noleak@:/#%" + "Zz7"
FORMS = (PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD), "noleak@:/#%")
ROLE = "leakcheck"

# How to run each command (arguments after the name). A command missing here runs with none.
ARGS: dict[str, list[tuple[str, ...]]] = {
    "url": [(), ("--json",)],
    "latency": [("--rounds", "1", "--timeout", "2")],
    "pool-stats": [(), ("--json",)],
    "triage": [(f'FATAL:  password authentication failed for user "{ROLE}"', "--timeout", "2"),
               ("--json", "sorry, too many clients already", "--timeout", "2")],
    "sanity": [("--timeout", "3", "--json")],
    "runbooks": [("list",)],
    "secrets": [()],
    "lab": [("status",)],
}
CONNECTS = {"latency", "pool-stats", "sanity"}


def _existing_commands() -> list[str]:
    return [name for name, (module, _, _) in sorted(COMMANDS.items()) if importlib.util.find_spec(module)]


CASES = [(name, args) for name in _existing_commands() for args in ARGS.get(name, [()])]


@pytest.fixture(scope="module")
def leak_role(lab_primary: LabCluster) -> LabCluster:
    lab_primary.execute(f"DROP ROLE IF EXISTS {ROLE}")
    lab_primary.create_role(ROLE, PASSWORD, grants=("app", "pg_monitor"))
    return lab_primary


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A git repository whose tracked .env holds the URL: `secrets` must report it without printing it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    return repo


def _url(lab: LabCluster, port: int | None = None) -> str:
    return lab.url(user=ROLE, password=PASSWORD, port=port, query={"connect_timeout": "3"})


def _check(result: Any) -> None:
    output = result.stdout + result.stderr
    for form in FORMS:
        assert form not in output, f"{form!r} leaked (exit {result.returncode}):\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]


def test_every_command_is_covered(cli: Any) -> None:
    listed = cli("--help").stdout
    for name in _existing_commands():
        assert name in listed
    assert CASES, "no command modules found"


@pytest.mark.parametrize("path", ["success", "failure"])
@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}{'-' + '-'.join(a)[:20] if a else ''}" for n, a in CASES])
def test_password_never_printed(cli: Any, leak_role: LabCluster, workdir: Path, tmp_path: Path,
                                name: str, args: tuple[str, ...], log_format: str, path: str) -> None:
    url = _url(leak_role) if path == "success" else _url(leak_role, port=free_port())
    (workdir / ".env").write_text(f"DATABASE_URL={url}\n")
    subprocess.run(["git", "-C", str(workdir), "add", "-f", ".env"], check=True, timeout=30)
    lab_dir = leak_role.root if path == "success" else tmp_path / "nolab"
    env = {"DATABASE_URL": url, "NEONDOCTOR_LAB_DIR": str(lab_dir), "NEONDOCTOR_LOG_LEVEL": "debug"}
    result = cli(name, *args, "--log-format", log_format, env=env, cwd=workdir, timeout=180)
    _check(result)
    assert result.returncode != 70, result.stderr[-2000:]
    if name in CONNECTS:  # both paths really happened: logged in, and failed to connect
        assert (result.returncode == 0) == (path == "success"), (result.returncode, result.stderr[-2000:])
    if name == "secrets":
        assert result.returncode == 1 and ".env" in result.stdout


def test_env_file_path_does_not_leak(cli: Any, leak_role: LabCluster, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(f"DATABASE_URL={_url(leak_role)}\nDB_PASSWORD={PASSWORD}\n")
    for args in (("url", "--json"), ("latency", "--rounds", "1")):
        if importlib.util.find_spec(COMMANDS[args[0]][0]):
            _check(cli("--env-file", str(env_file), "-vv", *args))
