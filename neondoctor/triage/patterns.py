"""Runbook patterns: how a condition becomes a regex, which regexes are refused, and how they run.

A runbook's `regex:` is user input and must run in linear time, whatever it says:

* validation (the same on every machine) accepts only the subset of Python's syntax that RE2 also
  runs (no look-around, back-reference, conditional, atomic group or possessive quantifier, no
  repeat count over 1000, no ``\\Z``) and refuses the shapes that make a backtracking engine blow
  up: nested quantifiers ``(a+)+``, alternation with overlapping branches under a quantifier
  ``(a|a)*``, unbounded repeats in a row over the same characters ``.*.*``, and more than
  MAX_UNBOUNDED unbounded repeats in one pattern;
* matching uses RE2 (`pip install 'neondoctor[re2]'`), linear by construction, when it is
  installed; otherwise Python's `re`, with a time budget per search on the main thread (SRE checks
  for signals while it matches), and a search over budget is a ConfigError naming the condition.

`contains` and `all` conditions are built here from escaped literals and stay on Python's `re`.
"""

from __future__ import annotations

import re
import signal
import threading
from functools import lru_cache
from re import _parser as sre  # the stdlib's own regex parser
from typing import Any

from neondoctor.errors import ConfigError

MAX_UNBOUNDED = 4
MAX_COUNT = 1000  # RE2's limit on {n,m}
SEARCH_BUDGET_S = 2.0

_UNLOADED: Any = object()
_re2: Any = _UNLOADED  # the `re2` module, None when not installed; imported on first use (start-up cost)


def _engine() -> Any:
    global _re2
    if _re2 is _UNLOADED:
        try:
            import re2  # type: ignore[import-not-found,import-untyped]
        except ImportError:  # optional: neondoctor[re2]
            re2 = None
        _re2 = re2
    return _re2


def re2_available() -> bool:
    return _engine() is not None


# ------------------------------------------------------------------------------------ building

def literal_pattern(phrase: str) -> str:
    """A literal phrase as a regex that tolerates any run of whitespace (wrapped pastes)."""
    words = phrase.split()
    return r"\s+".join(re.escape(w) for w in words)


def regex_literals(source: str) -> tuple[str, ...]:
    """Literals (lower-case) of which at least one occurs in every match; () when none is found.

    Used for the cheap pre-filter: a sequence gives its best run of plain characters, an
    alternation gives one literal per branch.
    """
    try:
        parsed = sre.parse(source)
    except re.error:
        return ()

    def score(lits: tuple[str, ...]) -> int:
        return min((len(x) for x in lits), default=0)

    def seq(items: Any) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        run: list[str] = []

        def consider(cand: tuple[str, ...]) -> None:
            nonlocal best
            if score(cand) > score(best):
                best = cand

        for op, av in items:
            if op is sre.LITERAL:
                run.append(chr(av))
                continue
            if op is sre.AT:  # \b, ^, $ match no characters: the run goes on
                continue
            consider(("".join(run),) if run else ())
            run = []
            if op is sre.SUBPATTERN:
                consider(seq(av[3]))
            elif op is sre.BRANCH:
                alts = [seq(b) for b in av[1]]
                if alts and all(score(a) >= 3 for a in alts):
                    consider(tuple(x for a in alts for x in a))
            elif op is sre.MAX_REPEAT and av[0] >= 1:
                consider(seq(av[2]))
        consider(("".join(run),) if run else ())
        return best

    lits = seq(list(parsed))
    return tuple(dict.fromkeys(x.lower() for x in lits)) if score(lits) >= 3 else ()


# ------------------------------------------------------------------------------------ validation

def _children(op: Any, av: Any) -> list[Any]:
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return [av[2]]
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op is sre.BRANCH:
        return list(av[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is sre.ATOMIC_GROUP:
        return [av]
    return []


def _walk(items: Any) -> Any:
    for op, av in items:
        yield op, av
        for child in _children(op, av):
            yield from _walk(child)


def _unbounded(op: Any, av: Any) -> bool:
    return op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[1] is sre.MAXREPEAT


_SAMPLE = tuple(chr(c) for c in range(0x250))  # ASCII, Latin-1 and Latin Extended: enough to compare classes
_CATEGORY = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_SPACE: r"\s",
             sre.CATEGORY_NOT_SPACE: r"\S", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W"}


def _fold(chars: set[str]) -> frozenset[str]:
    return frozenset(chars | {c.lower() for c in chars} | {c.upper() for c in chars if len(c.upper()) == 1})


@lru_cache(maxsize=64)
def _category(code: Any) -> frozenset[str]:
    pattern = re.compile(_CATEGORY.get(code, r"[\s\S]"))
    return frozenset(c for c in _SAMPLE if pattern.fullmatch(c))


def _chars(op: Any, av: Any) -> frozenset[str] | None:
    """The characters (of _SAMPLE, case-folded) one single-character item matches; None if not one char."""
    if op is sre.LITERAL:
        return _fold({chr(av)})
    if op is sre.NOT_LITERAL:
        return frozenset(_SAMPLE) - _fold({chr(av)})
    if op is sre.ANY:
        return frozenset(_SAMPLE) - {"\n"}
    if op is sre.CATEGORY:
        return _category(av)
    if op is sre.IN:
        found: set[str] = set()
        negate = False
        for iop, iav in av:
            if iop is sre.NEGATE:
                negate = True
            elif iop is sre.LITERAL:
                found.add(chr(iav))
            elif iop is sre.RANGE:
                found.update(chr(c) for c in range(iav[0], min(iav[1], 0x24F) + 1))
            elif iop is sre.CATEGORY:
                found |= _category(iav)
        folded = _fold(found)
        return frozenset(_SAMPLE) - folded if negate else folded
    return None


def _first(items: Any) -> tuple[frozenset[str], bool]:
    """(characters a match of this sequence can start with, whether it can match the empty string)."""
    acc: set[str] = set()
    for op, av in items:
        single = _chars(op, av)
        if single is not None:
            return frozenset(acc | single), False
        if op is sre.AT:
            continue
        if op is sre.SUBPATTERN:
            sub, nullable = _first(av[3])
        elif op is sre.BRANCH:
            firsts = [_first(b) for b in av[1]]
            sub = frozenset().union(*(f for f, _ in firsts))
            nullable = any(n for _, n in firsts)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            sub, nullable = _first(av[2])
            nullable = nullable or av[0] == 0
        else:  # anything else (a back-reference, a look-around): assume the worst
            return frozenset(_SAMPLE), True
        acc |= sub
        if not nullable:
            return frozenset(acc), False
    return frozenset(acc), True


def _overlap(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a & b)


def _nested_quantifier(items: Any) -> bool:
    """A repeat that contains another repeat, or a body that can match nothing: `(a+)+`, `(.*)*`, `(a?){30}`."""
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
    for op, av in _walk(items):
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[1] > 1 \
                and (any(o in repeats and a[1] > 1 for o, a in _walk(av[2])) or _first(av[2])[1]):
            return True
    return False


def _overlapping_alternation(items: Any) -> bool:
    """`(a|a)*`, `(a|ab)*`: under a repeat, two branches can start the same way (or one is empty)."""
    for op, av in _walk(items):
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[1] > 1:
            for bop, bav in _walk(av[2]):
                if bop is not sre.BRANCH:
                    continue
                firsts = [_first(b) for b in bav[1]]
                if any(n for _, n in firsts):
                    return True
                if any(_overlap(firsts[i][0], firsts[j][0])
                       for i in range(len(firsts)) for j in range(i + 1, len(firsts))):
                    return True
    return False


def _repeats_in_a_row(items: Any) -> bool:
    """`.*.*`, `\\s*\\s+`: unbounded repeats over shared characters, with only optional items between them."""
    sequences = [list(items)] + [c for op, av in _walk(items) for c in _children(op, av)]
    for seq in sequences:
        pending: frozenset[str] = frozenset()  # characters of the repeats since the last mandatory item
        for op, av in seq:
            if _unbounded(op, av):
                body, _ = _first(av[2])
                if _overlap(pending, body):
                    return True
                # a mandatory repeat over other characters separates like a literal would
                pending = body if av[0] > 0 else pending | body
            elif op is sre.AT or (op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] == 0):
                continue  # matches nothing, or may match nothing: does not separate two repeats
            else:
                pending = frozenset()
    return False


_UNSUPPORTED = {
    sre.ASSERT: "look-ahead/look-behind", sre.ASSERT_NOT: "negative look-around",
    sre.GROUPREF: "a back-reference", sre.GROUPREF_EXISTS: "a conditional group",
    sre.ATOMIC_GROUP: "an atomic group", sre.POSSESSIVE_REPEAT: "a possessive quantifier",
}


def regex_problem(source: str) -> str | None:
    """Why a runbook `regex:` is refused, or None when it is accepted."""
    try:
        re.compile(source, re.IGNORECASE)
        parsed = sre.parse(source)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"regex does not compile: {exc}"
    for op, av in _walk(parsed):
        if op in _UNSUPPORTED:
            return f"{_UNSUPPORTED[op]} is not allowed: runbook regexes must run in linear time (RE2 syntax)"
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and max(av[0], 0 if av[1] is sre.MAXREPEAT else av[1]) > MAX_COUNT:
            return f"a repeat count over {MAX_COUNT} is not allowed (RE2 syntax)"
        if op is sre.AT and av is sre.AT_END_STRING:
            return "\\Z is not allowed (RE2 syntax): use $"
    if _nested_quantifier(parsed):
        return "nested quantifier (e.g. `(a+)+`) risks catastrophic backtracking"
    if _overlapping_alternation(parsed):
        return "alternation with overlapping or empty branches under a quantifier (e.g. `(a|a)*`) risks " \
               "catastrophic backtracking: make the branches start differently"
    if _repeats_in_a_row(parsed):
        return "unbounded repeats in a row over the same characters (e.g. `.*.*`) backtrack polynomially: keep one"
    if sum(_unbounded(op, av) for op, av in _walk(parsed)) > MAX_UNBOUNDED:
        return f"more than {MAX_UNBOUNDED} unbounded repeats (*, +, {{n,}}): bound some, e.g. .{{0,200}}"
    if _engine() is not None:
        try:
            _re2_compile(source)
        except _re2.error as exc:
            return f"RE2 cannot run this regex: {exc}"
    return None


# ------------------------------------------------------------------------------------ matching

@lru_cache(maxsize=512)
def _re2_compile(source: str) -> Any:
    options = _re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print its own error lines on stderr
    return _re2.compile(source, options)


class _OverBudget(Exception):
    pass


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise _OverBudget


class BoundedPattern:
    """`.search(text)` like a compiled regex, in linear time (RE2) or within SEARCH_BUDGET_S (re)."""

    def __init__(self, source: str, where: str, user: bool) -> None:
        self.where = where
        self._re2 = _re2_compile(source) if user and _engine() is not None else None
        self._re = re.compile(source, re.IGNORECASE)
        self._guard = user and self._re2 is None

    @property
    def searcher(self) -> Any:
        """`search` itself, or the engine's own search when no time budget applies (no wrapper per call)."""
        if self._re2 is not None:
            return self._re2.search
        return self.search if self._guard else self._re.search

    def search(self, text: str) -> Any:
        if self._re2 is not None:
            return self._re2.search(text)
        if not self._guard or threading.current_thread() is not threading.main_thread() \
                or signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
            return self._re.search(text)
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, SEARCH_BUDGET_S)
            return self._re.search(text)
        except _OverBudget:
            raise ConfigError(f"{self.where}: the regex took over {SEARCH_BUDGET_S:g}s on this input: simplify it, "
                              "or install RE2 (pip install 'neondoctor[re2]') to run it in linear time") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@lru_cache(maxsize=1024)
def bounded(source: str, where: str, user: bool) -> BoundedPattern:
    return BoundedPattern(source, where, user)
