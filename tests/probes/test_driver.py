"""driver: can the app's interpreter import the URL's driver? Here neondoctor's own environment is the
app's (no --python, no VIRTUAL_ENV, no ./.venv): psycopg2, psycopg and asyncpg are installed, pg8000 is not."""

from __future__ import annotations

import importlib.util

import pytest

from neondoctor.triage.probes.driver import PROBE

from .kit import context, expect


@pytest.fixture(autouse=True)
def _own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)  # the working directory (tmp_path) has no .venv


def test_an_importable_driver_is_ruled_out() -> None:
    expect(PROBE.run(context("postgresql+psycopg2://app@db/app"), {}), "ruled_out",
           "driver psycopg2", "is importable in neondoctor's environment")
    expect(PROBE.run(context("postgresql+asyncpg://app@db/app"), {}), "ruled_out", "driver asyncpg")


def test_a_missing_driver_is_confirmed_with_the_package_to_install() -> None:
    assert importlib.util.find_spec("pg8000") is None
    expect(PROBE.run(context("postgresql+pg8000://app@db/app"), {}), "confirmed",
           "driver pg8000", "is not importable", "pip install pg8000")


def test_a_driver_sqlalchemy_does_not_know_is_confirmed() -> None:
    expect(PROBE.run(context("postgresql+nosuchdriver://app@db/app"), {}), "confirmed",
           "SQLAlchemy has no PostgreSQL driver 'nosuchdriver'")


def test_without_a_url_or_with_a_broken_interpreter_it_is_inconclusive(tmp_path: object) -> None:
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")
    ctx = context("postgresql+psycopg2://app@db/app", python="/nonexistent/bin/python")
    expect(PROBE.run(ctx, {}), "inconclusive", "cannot ask the app's interpreter")
