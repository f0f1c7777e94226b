"""User regexes run in linear time; hostile runbook YAML is refused up front, with file and key path.

The fuzz test feeds generated regexes and pastes to validation and the matcher, on RE2 and on the
`re` fallback, each case under a time bound.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neondoctor.errors import ConfigError
from neondoctor.triage import patterns
from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import Condition, Runbook, Step, validate_dir

STEPS = """steps:
  - id: check
    cause: something
    manual: look at it
"""


def _book(tmp_path: Path, body: str, name: str = "bad.yaml") -> Path:
    d = tmp_path / "books"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(body)
    return d


def _regex_book(regex: str) -> str:
    return f"id: hostile\ntitle: Hostile\norder: 5\nmatch:\n  - name: evil\n    regex: '{regex}'\n{STEPS}"


@pytest.fixture
def without_re2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fallback engine, as on a machine without the optional RE2 wheel."""
    monkeypatch.setattr(patterns, "_re2", None)
    patterns.bounded.cache_clear()
    yield
    patterns.bounded.cache_clear()


@pytest.mark.parametrize(("regex", "why"), [
    ("(a|a)*b", "overlapping or empty branches"),
    ("Connection refused.*.*.*.*.*.*.*.*.*=x", "unbounded repeats in a row"),
    ("(x+x+)+y", "nested quantifier"),
    ("(a?){30}a{30}", "nested quantifier"),
    ("(?=.*password)x", "look-ahead"),
    ("(fatal)\\1", "back-reference"),
    ("x{5000}", "repeat count over 1000"),
    ("a.*b.*c.*d.*e.*f", "more than 4 unbounded repeats"),
])
def test_backtracking_regexes_are_refused(cli: Any, tmp_path: Path, regex: str, why: str) -> None:
    d = _book(tmp_path, _regex_book(regex))
    proc = cli("runbooks", "validate", str(d))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad.yaml: match[0].regex:" in proc.stderr and why in proc.stderr, proc.stderr


def test_the_hostile_runbook_ends_triage_at_once(cli: Any, tmp_path: Path) -> None:
    # Before: this runbook validated and a 34-character paste hung triage past 60 s.
    d = _book(tmp_path, _regex_book("(a|a)*b"))
    start = time.monotonic()
    proc = cli("triage", "--no-probes", "--runbooks-dir", str(d), "a" * 34, timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2 and "match[0].regex" in proc.stderr and "Traceback" not in proc.stderr
    safe = _book(tmp_path / "ok", _regex_book("Connection refused.{0,50}=x"), "ok.yaml")
    proc = cli("triage", "--no-probes", "--runbooks-dir", str(safe), "Connection refused" + "a" * 34 + "=x")
    assert proc.returncode == 0 and "hostile" in proc.stdout


@pytest.mark.usefixtures("without_re2")
def test_without_re2_a_search_is_bounded_in_time() -> None:
    # A pattern the shape checks would refuse, compiled directly as if they had missed it.
    pattern = patterns.bounded("(a|a)*b", "x.yaml: match[0].regex", True)
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"x.yaml: match\[0\].regex: the regex took over"):
        pattern.search("a" * 40)
    assert time.monotonic() - start < patterns.SEARCH_BUDGET_S + 2


def test_with_re2_the_same_pattern_is_linear() -> None:
    if not patterns.re2_available():
        pytest.skip("RE2 is not installed")
    pattern = patterns.bounded("(a|a)*b", "x.yaml: match[0].regex", True)
    start = time.monotonic()
    assert pattern.search("a" * 100_000) is None
    assert time.monotonic() - start < 1


def test_alias_bomb_is_refused_at_once(cli: Any, tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    d = _book(tmp_path, "\n".join(lines) + "\nid: bomb\n")
    start = time.monotonic()
    proc = cli("runbooks", "validate", str(d), timeout=60)
    assert time.monotonic() - start < 20
    assert proc.returncode == 2 and "bad.yaml: line 1: YAML anchors and aliases are not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr


def test_an_anchor_alone_is_refused(tmp_path: Path) -> None:
    text = _regex_book("timeout").replace("title: Hostile", "title: &t Hostile")
    with pytest.raises(ConfigError, match=r"bad\.yaml: line 2: YAML anchors"):
        validate_dir(_book(tmp_path, text))


@pytest.mark.parametrize("value", ["{nested: mapping}", "[a, list]", "42"])
def test_description_must_be_text(tmp_path: Path, value: str) -> None:
    text = _regex_book("timeout").replace("order: 5\n", f"order: 5\ndescription: {value}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: description: must be text"):
        validate_dir(_book(tmp_path, text))


def test_shipped_runbooks_pass_the_linear_time_rules() -> None:
    from neondoctor.triage.runbook import load_runbooks

    for book in load_runbooks():
        for cond in book.conditions:
            if cond.operator == "regex":
                assert patterns.regex_problem(cond.regex) is None, (book.id, cond.name)


# ---------------------------------------------------------------- fuzz

ATOMS = st.sampled_from(["a", "b", "x", ".", "\\s", "\\S", "\\d", "\\w", "[ab]", "[^a]", " ", "="])


def _regexes() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map(lambda t: f"(?:{t[0]}|{t[1]})"),
            inner.map(lambda r: f"(?:{r})*"),
            inner.map(lambda r: f"(?:{r})+"),
            inner.map(lambda r: f"(?:{r})?"),
            inner.map(lambda r: f"(?:{r}){{2,9}}"),
        )

    return st.recursive(ATOMS, extend, max_leaves=8)


PASTES = st.text(alphabet="abx =1\n\t", max_size=60) | st.builds(lambda c, n, t: c * n + t,
                                                                     st.sampled_from(["a", "ab", " ", "x1"]),
                                                                     st.integers(10, 60),
                                                                     st.sampled_from(["", "!", "=x"]))


class _Slow(Exception):
    pass


def _within(seconds: float, func: Any) -> Any:
    """Run `func`, failing the case (not hanging the suite) past `seconds`."""
    def alarm(_s: int, _f: Any) -> None:
        raise _Slow

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return func()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _match_once(regex: str, paste: str) -> None:
    cond = Condition(name="fuzz", operator="regex", value=regex, regex=regex,
                     literals=patterns.regex_literals(regex), where="fuzz.yaml: match[0].regex")
    book = Runbook(id="fuzz", title="fuzz", order=1, conditions=(cond,),
                   steps=(Step(id="s", cause="c", probe="manual", manual="m"),))
    Matcher([book]).match(paste)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(regex=_regexes(), paste=PASTES)
def test_fuzz_accepted_regexes_match_fast_on_both_engines(regex: str, paste: str) -> None:
    if _within(2, lambda: patterns.regex_problem(regex)) is not None:
        return  # refused up front: never runs
    for engine in ([patterns._re2] if patterns.re2_available() else []) + [None]:
        saved = patterns._re2
        patterns._re2 = engine
        patterns.bounded.cache_clear()
        try:
            start = time.monotonic()
            try:
                _within(patterns.SEARCH_BUDGET_S + 1, lambda: _match_once(regex, paste))
            except _Slow:
                pytest.fail(f"{regex!r} on {paste!r} ran past the bound ({'re2' if engine else 're'})")
            assert time.monotonic() - start < 1.5, (regex, paste)
        finally:
            patterns._re2 = saved
            patterns.bounded.cache_clear()


def test_runbooks_validate_in_a_subprocess_stays_quiet_with_re2(tmp_path: Path) -> None:
    """RE2 logs compile errors on stderr by default; neondoctor turns that off."""
    import sys

    d = _book(tmp_path, _regex_book("(?P<x>a)(?P=x)"))
    proc = subprocess.run([sys.executable, "-m", "neondoctor", "runbooks", "validate", str(d)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "back-reference" in proc.stderr
    assert "re2.cc" not in proc.stderr and "absl" not in proc.stderr
