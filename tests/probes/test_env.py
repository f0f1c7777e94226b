"""env: is DATABASE_URL set and loaded where neondoctor runs?"""

from __future__ import annotations

from pathlib import Path

from neondoctor.triage.probes.env import PROBE

from .kit import context


def test_no_url_is_confirmed_with_the_reason() -> None:
    result = PROBE.run(context(None), {})
    assert (result.status, result.evidence) == ("confirmed", "DATABASE_URL is not set in the environment nor in a .env file")
    failed = PROBE.run(context(None, url_error=".env line 3: unterminated quote"), {})
    assert (failed.status, failed.evidence) == ("confirmed", ".env line 3: unterminated quote")


def test_a_loaded_url_is_ruled_out_and_says_where_from(tmp_path: Path) -> None:
    assert PROBE.run(context("postgresql://app@db/app"), {}).evidence == "DATABASE_URL is set in the environment"
    ctx = context("postgresql://app@db/app")
    ctx.url_source = str(tmp_path / ".env")
    result = PROBE.run(ctx, {})
    assert (result.status, result.evidence) == ("ruled_out", f"DATABASE_URL is loaded from {tmp_path / '.env'}")
