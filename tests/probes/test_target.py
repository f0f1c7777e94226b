"""target: does DATABASE_URL name the server, port, user and database the error names?

Not a runbook step: the walk runs it first by itself (walk.MISMATCH_STEP), so no runbook may name it.
"""

from __future__ import annotations

import pytest

from neondoctor.errors import ConfigError
from neondoctor.triage.probes import PROBES, get_probe
from neondoctor.triage.probes.target import PROBE
from neondoctor.triage.target import extract_target

from .kit import context, expect

ERROR = ('connection to server at "db.example.com" (10.1.2.3), port 5433 failed: FATAL:  password '
         'authentication failed for user "report"')


def test_another_host_port_and_user_is_confirmed_with_both_sides() -> None:
    ctx = context("postgresql://app@other.example.com:5432/app", error_target=extract_target(ERROR))
    evidence = expect(PROBE.run(ctx, {}), "confirmed", "different host and port and user",
                      "DATABASE_URL (environment): app@other.example.com:5432/app")
    assert "db.example.com" in evidence


def test_the_same_target_is_ruled_out() -> None:
    ctx = context("postgresql://report@db.example.com:5433/app", error_target=extract_target(ERROR))
    expect(PROBE.run(ctx, {}), "ruled_out", "same target", "report@db.example.com:5433/app")


def test_an_error_that_names_nothing_is_inconclusive() -> None:
    ctx = context("postgresql://app@db/app", error_target=extract_target("QueuePool limit of size 5 overflow 10"))
    expect(PROBE.run(ctx, {}), "inconclusive", "the error names no server, user or database")
    expect(PROBE.run(context(None), {}), "inconclusive", "DATABASE_URL is not set")


def test_no_runbook_step_may_name_it() -> None:
    assert "target" not in PROBES and not PROBE.in_runbooks
    with pytest.raises(ConfigError, match="unknown probe 'target'"):
        get_probe("target")
