"""The walk: match a pasted error to a runbook, then verify its causes one probe at a time.

confirmed -> stop with the fix; ruled_out -> next step; inconclusive or a manual step -> stop and
say what to check, and how to continue (`--ruled-out STEP`) once it is ruled out. Never a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neondoctor.errors import EXIT_CONFIG, EXIT_FINDINGS, EXIT_NO_MATCH, EXIT_OK, ConfigError, NeondoctorError
from neondoctor.log import get_logger
from neondoctor.triage.matcher import Match, Matcher
from neondoctor.triage.probes import get_probe
from neondoctor.triage.probes.base import CONFIRMED, INCONCLUSIVE, RULED_OUT, ProbeContext, ProbeResult
from neondoctor.triage.runbook import Runbook, Step

NOT_RUN = "not_run"
ALL_RULED_OUT = "all_ruled_out"
log = get_logger(__name__)


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    status: str  # confirmed | ruled_out | inconclusive | not_run
    evidence: str
    duration_ms: int
    by_user: bool = False  # ruled out with --ruled-out, not by a probe


@dataclass(frozen=True)
class Verdict:
    status: str  # confirmed | inconclusive | all_ruled_out | not_run
    step: Step | None = None
    check: str | None = None  # for inconclusive: what a human must check
    continue_with: tuple[str, ...] = ()  # the --ruled-out options that continue the walk


@dataclass(frozen=True)
class TriageResult:
    runbook: Runbook | None
    match: Match | None
    steps: tuple[StepOutcome, ...]
    verdict: Verdict
    probes_run: bool = True

    @property
    def exit_code(self) -> int:
        if self.runbook is None:
            return EXIT_NO_MATCH
        if self.verdict.status == CONFIRMED or (not self.probes_run and self.verdict.status == NOT_RUN):
            return EXIT_OK
        return EXIT_FINDINGS


@dataclass
class TriageOptions:
    probes: bool = True
    ruled_out: Sequence[str] = ()
    engine_ref: str | None = None
    env_file: str | None = None
    timeout: int = 5
    cwd: Path = field(default_factory=Path.cwd)
    database_url: str | None = None  # overrides the environment/.env (the demo triages its own setups)
    python: str | None = None  # the app's interpreter, for the driver probe


def build_context(options: TriageOptions, matched_text: str | None = None) -> ProbeContext:
    """Load and parse DATABASE_URL; a failure becomes evidence (the env/url probes report it)."""
    from neondoctor.settings import load_database_url
    from neondoctor.url import parse_url

    ctx = ProbeContext(engine_ref=options.engine_ref, cwd=options.cwd, timeout=options.timeout,
                       matched_text=matched_text, python=options.python)
    try:
        if options.database_url is not None:
            from neondoctor.settings import DatabaseSetting, register_url_secret

            register_url_secret(options.database_url)
            setting = DatabaseSetting(options.database_url, "the demo")
        else:
            setting = load_database_url(options.env_file, required=False)
    except ConfigError as exc:
        ctx.url_error = exc.message
        return ctx
    if setting is None:
        return ctx
    ctx.database_url, ctx.url_source = setting.url, setting.source
    try:
        ctx.parsed = parse_url(setting.url)
    except ConfigError as exc:
        ctx.url_error = exc.message
    return ctx


def run_step(step: Step, ctx: ProbeContext) -> StepOutcome:
    start = time.monotonic()
    try:
        result = get_probe(step.probe).run(ctx, step.param_dict())
    except NeondoctorError:
        raise
    except Exception as exc:  # a probe bug must not end the walk without a verdict
        result = ProbeResult.inconclusive(f"the probe failed: {type(exc).__name__}: {exc}")
    elapsed = int((time.monotonic() - start) * 1000)
    log.info("probe", step=step.id, probe=step.probe, status=result.status, duration_ms=elapsed)
    return StepOutcome(step, result.status, result.evidence, elapsed)


def walk(book: Runbook, ctx: ProbeContext, ruled_out: Sequence[str] = (),
         on_step: Callable[[StepOutcome], None] | None = None,
         ask: Callable[[Step], bool] | None = None) -> tuple[tuple[StepOutcome, ...], Verdict]:
    """Run the steps in order. `ask(step)` (a terminal prompt) may rule out a manual step on the spot."""
    outcomes: list[StepOutcome] = []
    given = list(dict.fromkeys(ruled_out))
    for step in book.steps:
        if step.id in given:
            outcome = StepOutcome(step, RULED_OUT, "ruled out by you (--ruled-out)", 0, by_user=True)
        elif step.is_manual and ask is not None and ask(step):
            outcome = StepOutcome(step, RULED_OUT, "ruled out by you (answered at the prompt)", 0, by_user=True)
            given.append(step.id)
        elif step.is_manual:
            outcome = StepOutcome(step, INCONCLUSIVE, "a human check (see below)", 0)
        else:
            outcome = run_step(step, ctx)
        outcomes.append(outcome)
        if on_step:
            on_step(outcome)
        if outcome.status == CONFIRMED:
            return tuple(outcomes), Verdict(CONFIRMED, step)
        if outcome.status == INCONCLUSIVE:
            check = step.manual or f"Check by hand whether this is the cause: {step.cause}. What the probe saw: " \
                                   f"{outcome.evidence}"
            return tuple(outcomes), Verdict(INCONCLUSIVE, step, check=check,
                                            continue_with=(*given, step.id))
    return tuple(outcomes), Verdict(ALL_RULED_OUT)


def triage(text: str, runbooks: Sequence[Runbook], options: TriageOptions | None = None,
           on_step: Callable[[StepOutcome], None] | None = None,
           ask: Callable[[Step], bool] | None = None) -> TriageResult:
    """Match `text`, then (unless options.probes is False) walk the matched runbook."""
    options = options or TriageOptions()
    found = Matcher(runbooks).match(text)
    if found is None:
        return TriageResult(None, None, (), Verdict(NOT_RUN), probes_run=options.probes)
    book = found.runbook
    unknown = [s for s in options.ruled_out if book.step(s) is None]
    if unknown:
        raise ConfigError(f"--ruled-out {', '.join(unknown)}: no such step in runbook {book.id} "
                          f"(steps: {', '.join(s.id for s in book.steps)})", exit_code=EXIT_CONFIG)
    if not options.probes:
        planned = tuple(StepOutcome(s, NOT_RUN, "", 0) for s in book.steps)
        return TriageResult(book, found, planned, Verdict(NOT_RUN), probes_run=False)
    ctx = build_context(options, found.text)
    outcomes, verdict = walk(book, ctx, options.ruled_out, on_step, ask)
    return TriageResult(book, found, outcomes, verdict)
