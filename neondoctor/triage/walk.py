"""The walk: match a pasted error to a runbook, then verify its causes one probe at a time.

confirmed -> stop with the fix; ruled_out -> next step; inconclusive or a manual step -> stop and
say what to check, and how to continue (`--ruled-out STEP`) once it is ruled out. Never a guess.

The error's own target comes first. When the paste names another host, port, user or database than
DATABASE_URL (triage/target.py), a first step `target-mismatch` says so with both sides; the walk
then goes on, its network probes (DNS, TCP, TLS) aimed at the error's own host and port, but a probe
that logs in with DATABASE_URL's credentials would check the wrong server or role: there the walk
stops, and the mismatch is the confirmed cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neondoctor.errors import EXIT_CONFIG, EXIT_FINDINGS, EXIT_NO_MATCH, EXIT_OK, ConfigError, NeondoctorError
from neondoctor.log import get_logger
from neondoctor.triage.matcher import Match, Matcher, normalise
from neondoctor.triage.probes import get_probe
from neondoctor.triage.probes.base import CONFIRMED, INCONCLUSIVE, RULED_OUT, Probe, ProbeContext, ProbeResult
from neondoctor.triage.runbook import Runbook, Step
from neondoctor.triage.target import ErrorTarget, extract_target

NOT_RUN = "not_run"
ALL_RULED_OUT = "all_ruled_out"
DIFFERS = "differs"  # the target-mismatch step: a fact, not a stop
# Probes that log in with DATABASE_URL's credentials: meaningful only against the error's own target.
CREDENTIAL_PROBES = frozenset({"auth", "database", "slots", "idle_sessions", "server_timeouts"})
MISMATCH_STEP = Step(
    id="target-mismatch",
    cause="The app connects somewhere else than the URL checked here (another host, port, user or database)",
    probe="target",
    fix=("Find the configuration the failing app really runs with (container env, secrets manager, the "
         "deployment's .env, a -pooler vs direct host) and fix it there, or run triage with that URL: "
         "DATABASE_URL='<the app's URL>' neondoctor triage ... If the difference is intended, continue "
         "with --ruled-out target-mismatch."),
)
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
    target: ErrorTarget | None = None  # what the error says about its server
    target_differs: tuple[str, ...] = ()  # fields where DATABASE_URL names another target

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
    direct_url: str | None = None  # the server behind a pooler; default: DATABASE_URL_UNPOOLED & co., Neon's host
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
    _add_direct(ctx, options)
    return ctx


def _add_direct(ctx: ProbeContext, options: TriageOptions) -> None:
    """Behind a pooler, where the server itself is: --direct-url, the environment, or Neon's naming."""
    import dataclasses

    from neondoctor import pooler
    from neondoctor.settings import register_url_secret
    from neondoctor.url import parse_url

    assert ctx.parsed is not None
    found = (options.direct_url, "--direct-url") if options.direct_url else None
    if found is None and (env := pooler.direct_url_from_env()):
        found = (env[1], env[0])
    if found is None and ctx.url_source and Path(ctx.url_source).is_file():  # DATABASE_URL came from a .env
        from neondoctor.settings import read_env_file

        values = read_env_file(Path(ctx.url_source))
        found = next(((values[n], f"{n} in {ctx.url_source}") for n in pooler.DIRECT_URL_VARIABLES
                      if values.get(n, "").strip()), None)
    try:
        if found is not None:
            register_url_secret(found[0])
            ctx.direct, ctx.direct_source = parse_url(found[0]), found[1]
        elif ctx.parsed.is_neon_pooler and (host := pooler.neon_direct_host(ctx.parsed.host or "")):
            ctx.direct = dataclasses.replace(ctx.parsed, host=host)
            ctx.direct_source = f"Neon's direct host {host}"
    except ConfigError as exc:
        log.warning("direct URL ignored", reason=exc.message)


def run_step(step: Step, ctx: ProbeContext, probe: Probe | None = None) -> StepOutcome:
    start = time.monotonic()
    try:
        result = (probe or get_probe(step.probe)).run(ctx, step.param_dict())
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
    if ctx.target_differs and MISMATCH_STEP.id not in given:
        from neondoctor.triage.probes.target import PROBE as TARGET_PROBE

        first = run_step(MISMATCH_STEP, ctx, TARGET_PROBE)
        outcomes.append(StepOutcome(MISMATCH_STEP, DIFFERS, first.evidence, first.duration_ms))
        if on_step:
            on_step(outcomes[-1])
    for step in book.steps:
        if ctx.target_differs and step.probe in CREDENTIAL_PROBES and step.id not in given \
                and MISMATCH_STEP.id not in given:
            outcome = StepOutcome(step, NOT_RUN, "not run: DATABASE_URL names another target than the error, so "
                                  "its credentials would be checked against the wrong server or role", 0)
            outcomes.append(outcome)
            if on_step:
                on_step(outcome)
            return tuple(outcomes), Verdict(CONFIRMED, MISMATCH_STEP)
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
    matcher = Matcher(runbooks)
    found = matcher.match(text)
    if found is None:
        return TriageResult(None, None, (), Verdict(NOT_RUN), probes_run=options.probes)
    target = extract_target(normalise(text))
    book = found.runbook
    unknown = [s for s in options.ruled_out if book.step(s) is None and s != MISMATCH_STEP.id]
    if unknown:
        raise ConfigError(f"--ruled-out {', '.join(unknown)}: no such step in runbook {book.id} "
                          f"(steps: {', '.join(s.id for s in book.steps)})", exit_code=EXIT_CONFIG)
    if not options.probes:
        planned = tuple(StepOutcome(s, NOT_RUN, "", 0) for s in book.steps)
        return TriageResult(book, found, planned, Verdict(NOT_RUN), probes_run=False, target=target)
    ctx = build_context(options, found.text)
    ctx.error_target = target
    from neondoctor.triage.probes.target import compare

    ctx.target_differs = compare(ctx)
    outcomes, verdict = walk(book, ctx, options.ruled_out, on_step, ask)
    return TriageResult(book, found, outcomes, verdict, target=target, target_differs=ctx.target_differs)
