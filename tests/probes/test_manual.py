"""manual: a check only a human can do; the walk stops there with the step's instruction."""

from __future__ import annotations

from neondoctor.triage.probes import PROBES, get_probe
from neondoctor.triage.probes.manual import PROBE
from neondoctor.triage.runbook import Step
from neondoctor.triage.walk import walk

from .kit import context


def test_it_is_always_inconclusive() -> None:
    result = PROBE.run(context("postgresql://app@db/app"), {})
    assert (result.status, result.evidence) == ("inconclusive", "a human check: see the instruction")
    assert get_probe("manual") is PROBE is PROBES["manual"]


def test_the_walk_stops_at_a_manual_step_with_its_instruction() -> None:
    from neondoctor.triage.runbook import Runbook

    step = Step(id="look", cause="c", probe="manual", manual="Open the console and read the limit.")
    book = Runbook(id="b", title="t", order=1, conditions=(), steps=(step,))
    outcomes, verdict = walk(book, context(None))
    assert [o.status for o in outcomes] == ["inconclusive"]
    assert (verdict.status, verdict.check, verdict.continue_with) == (
        "inconclusive", "Open the console and read the limit.", ("look",))
