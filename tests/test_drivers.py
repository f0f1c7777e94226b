"""Driver knowledge (neondoctor.drivers), neondoctor's own session (neondoctor.connect) in each
driver, and the driver check in the app's own interpreter (neondoctor.appenv, `url --python`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neondoctor import drivers
from neondoctor.connect import Session, classify_connect_error, read_only
from neondoctor.errors import ConfigError
from neondoctor.url import parse_url

PW = "Drv-" + "pw-83k1-Qm7xT"  # 18 characters: not a weak password (url.password-weak)


def test_default_driver_per_sqlalchemy_version() -> None:
    assert drivers.default_driver("2.0.58") == "psycopg2"
    assert drivers.default_driver("2.1.9") == "psycopg"
    assert drivers.default_driver("2.2.0b1") == "psycopg"
    assert drivers.default_driver(None) == "psycopg2"


def test_the_rule_matches_what_the_installed_sqlalchemy_does() -> None:
    import sqlalchemy
    from sqlalchemy import create_engine

    engine = create_engine("postgresql://u@h/d")
    assert engine.dialect.driver == drivers.default_driver(sqlalchemy.__version__)
    choice = drivers.choose(parse_url("postgresql://u@h/d"))
    assert choice.name == engine.dialect.driver and not choice.named
    assert sqlalchemy.__version__ in choice.reason


def test_choice_names_the_url_driver() -> None:
    choice = drivers.choose(parse_url("postgresql+asyncpg://u@h/d"))
    assert (choice.name, choice.named, choice.reason) == ("asyncpg", True, "+asyncpg in the URL")
    assert choice.driver is not None and choice.driver.is_async and not choice.driver.libpq


def test_libpq_connect_params_are_bounded() -> None:
    url = parse_url(f"postgresql+psycopg://u:{PW}@h:5433/d?connect_timeout=0&sslmode=require")
    kwargs = drivers.connect_params(url, "psycopg", timeout=4, application_name="x")
    assert kwargs["connect_timeout"] == 4  # 0 means forever in libpq: never passed on
    assert kwargs["sslmode"] == "require" and kwargs["tcp_user_timeout"] == 4000 and kwargs["keepalives"] == 1
    assert drivers.connect_params(parse_url("postgresql://u@h/d?connect_timeout=3"), "psycopg2", timeout=10,
                                  application_name="x")["connect_timeout"] == 3


def test_asyncpg_params_translated_or_refused() -> None:
    url = parse_url(f"postgresql+asyncpg://u:{PW}@h/d?sslmode=require&connect_timeout=3")
    kwargs = drivers.connect_params(url, "asyncpg", timeout=5, application_name="nd")
    assert kwargs["ssl"] == "require" and kwargs["timeout"] == 3
    assert kwargs["server_settings"] == {"application_name": "nd"}
    assert "sslmode" not in kwargs and "connect_timeout" not in kwargs
    with pytest.raises(ConfigError, match=r"channel_binding, options .*libpq-only"):
        drivers.connect_params(parse_url("postgresql+asyncpg://u@h/d?channel_binding=require&options=-c%20x%3D1"),
                               "asyncpg", timeout=5, application_name="nd")
    assert drivers.asyncpg_rejected({"sslmode": "require", "ssl": "require", "timeout": "3"}) == ["sslmode"]


def test_libpq_version_per_driver() -> None:
    import psycopg
    import psycopg2.extensions

    assert drivers.libpq_version("psycopg2") == psycopg2.extensions.libpq_version()
    assert drivers.libpq_version("psycopg") == psycopg.pq.version()
    assert drivers.libpq_version("asyncpg") is None
    assert drivers.libpq_text(170011) == "17.11"


@pytest.mark.parametrize("text,kind", [
    ('FATAL:  password authentication failed for user "app"', "auth"),
    ("FATAL:  sorry, too many clients already", "slots"),
    ('FATAL:  database "nope" does not exist', "database"),
    ("[Errno 111] Connect call failed ('127.0.0.1', 1)", "network"),
    ('PostgreSQL server at "127.0.0.1:5432" rejected SSL upgrade', "ssl"),
    ("something else", "other"),
])
def test_one_classifier(text: str, kind: str) -> None:
    assert classify_connect_error(Exception(text)) == kind
    assert classify_connect_error(TimeoutError()) == "network"


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg", "asyncpg", "psycopg_async"])
def test_session_in_each_driver(lab_primary: Any, driver: str) -> None:
    url = parse_url(lab_primary.app_url(driver=driver, query={}))
    with read_only(url, connect_timeout=3) as session:
        assert session.driver.name == drivers.DRIVERS[driver].family
        rows = session.query("SELECT %s::int + 1, current_setting('transaction_read_only')", (41,))
        assert rows == [(42, "on")]
        app = session.scalar("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        assert app == "neondoctor"
        with pytest.raises(Exception, match="read-only transaction"):
            session.query("CREATE TABLE nd_should_not_exist (x int)")


def test_session_named_params_for_asyncpg(lab_primary: Any) -> None:
    url = parse_url(lab_primary.app_url(driver="asyncpg", query={}))
    with Session(url, timeout=3).open() as session:
        assert session.query("SELECT %(a)s::int, %(b)s::int, %(a)s::int + 0", {"a": 1, "b": 2}) == [(1, 2, 1)]


def test_a_driver_not_installed_and_named_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="neondoctor connects with"):
        Session(parse_url("postgresql+pg8000://u@h/d"))


# -------------------------------------------------------------------------- the app's interpreter

BLOCK = """
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "asyncpg":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = ["neondoctor", *sys.argv[1:]]
runpy.run_module("neondoctor", run_name="__main__")
"""


def _venv(path: Path, *packages: str) -> Path:
    """A real virtualenv for neondoctor's Python, with `packages` installed by uv (cache first)."""
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    for offline in (["--offline"], []):
        if not packages:
            break
        proc = subprocess.run(["uv", "pip", "install", "-q", *offline, "--python", str(python), *packages],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode == 0:
            break
    else:
        pytest.fail(f"could not install {packages} into a test virtualenv: {proc.stderr[-500:]}")
    return python


def _url_cmd(tmp_path: Path, *args: str, block: bool = False, env: dict[str, str] | None = None) -> Any:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    full.update({"NO_COLOR": "1", **(env or {})})
    if block:
        (tmp_path / "block.py").write_text(BLOCK)
        cmd = [sys.executable, str(tmp_path / "block.py")]
    else:
        cmd = [sys.executable, "-m", "neondoctor"]
    return subprocess.run([*cmd, "url", "--json", *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=full)


URL = f"postgresql+asyncpg://app:{PW}@db.example.com/app?ssl=require&timeout=5"


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv makes the test virtualenvs")
def test_driver_checked_in_the_apps_interpreter(tmp_path: Path) -> None:
    with_driver = _venv(tmp_path / "app-venv", "asyncpg", "sqlalchemy==2.0.*")
    without = _venv(tmp_path / "bare-venv")

    # neondoctor's own environment lacks asyncpg (blocked): alone, that is a finding...
    alone = _url_cmd(tmp_path, URL, block=True)
    ids = [f["id"] for f in json.loads(alone.stdout)["findings"]]
    assert alone.returncode == 1 and "url.driver-missing" in ids
    # ...but the app's interpreter has it: no finding against the URL.
    app = _url_cmd(tmp_path, "--python", str(with_driver), URL, block=True)
    data = json.loads(app.stdout)
    assert app.returncode == 0, app.stdout + app.stderr
    assert "url.driver-missing" not in [f["id"] for f in data["findings"]]
    assert data["environment"]["python"] == str(with_driver) and data["environment"]["source"] == "--python"
    assert data["environment"]["drivers"]["asyncpg"]
    assert data["environment"]["sqlalchemy"].startswith("2.0.")
    # The reverse: neondoctor has asyncpg, the app's interpreter does not.
    bare = _url_cmd(tmp_path, "--python", str(without), URL)
    found = {f["id"]: f["message"] for f in json.loads(bare.stdout)["findings"]}
    assert bare.returncode == 1 and str(without) in found["url.driver-missing"]
    # A bare URL follows the app's SQLAlchemy (2.0 there: psycopg2), said in the output.
    text = _url_cmd(tmp_path, "--python", str(with_driver), f"postgresql://app:{PW}@localhost/app")
    data = json.loads(text.stdout)
    assert data["effective_driver"] == "psycopg2" and "SQLAlchemy 2.0." in data["driver_reason"]
    # VIRTUAL_ENV and ./.venv are used when --python is not given, and said so.
    via_env = json.loads(_url_cmd(tmp_path, URL, env={"VIRTUAL_ENV": str(without.parent.parent)}).stdout)
    assert via_env["environment"]["source"] == "VIRTUAL_ENV"
    (tmp_path / "app-venv").rename(tmp_path / ".venv")
    via_dir = json.loads(_url_cmd(tmp_path, URL, block=True).stdout)
    assert via_dir["environment"]["source"] == ".venv in the working directory"
    for proc in (alone, app, bare, text):
        assert PW not in proc.stdout + proc.stderr


def test_python_that_is_not_an_interpreter(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho nope\n")
    fake.chmod(0o755)
    proc = _url_cmd(tmp_path, "--python", str(fake), URL)
    assert proc.returncode == 2 and "not a Python 3 interpreter" in proc.stderr
    missing = _url_cmd(tmp_path, "--python", str(tmp_path / "nope"), URL)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in proc.stderr + missing.stderr
