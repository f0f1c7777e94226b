"""Matching: golden cases as data (tests/golden/*.yaml), normalisation, determinism, the pre-filter."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from neondoctor.triage.matcher import LiteralIndex, Matcher, normalise
from neondoctor.triage.runbook import load_runbooks

GOLDEN_DIR = Path(__file__).parent / "golden"
_MATCHER = Matcher(load_runbooks())


def _golden_cases() -> list[tuple[str, str | None, dict]]:
    """tests/golden/<runbook-id>.yaml: `runbook:` (null in _negatives.yaml) and named `cases:`,
    each with `input` and, for a match, the `condition` expected to match. Adding a case is adding
    an entry."""
    out = []
    for path in sorted(GOLDEN_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(doc) == {"runbook", "cases"}, f"{path.name}: keys are `runbook` and `cases`"
        assert path.stem == (doc["runbook"] or "_negatives"), f"{path.name}: file is named after its runbook"
        for case in doc["cases"]:
            out.append((f"{path.stem}:{case['name']}", doc["runbook"], case))
    return out


GOLDEN = _golden_cases()


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_runbooks())


def test_golden_cases_exist() -> None:
    assert len(GOLDEN) >= 60
    assert sum(1 for _, rb, _ in GOLDEN if rb is None) >= 6
    assert {rb for _, rb, _ in GOLDEN} >= {"auth-failure", "connect-failure", "missing-driver",
                                           "stale-connection", "slot-exhaustion", "pool-timeout", None}
    names = [cid for cid, _, _ in GOLDEN]
    assert len(names) == len(set(names)), "case names are unique within a file"


@pytest.mark.parametrize(("case_id", "expected", "case"), GOLDEN, ids=[c[0] for c in GOLDEN])
def test_golden(case_id: str, expected: str | None, case: dict, matcher: Matcher) -> None:
    allowed = {"name", "input"} | ({"condition"} if expected else set())
    assert set(case) <= allowed and {"name", "input"} <= set(case), f"{case_id}: keys {sorted(allowed)}"
    if expected:
        assert "condition" in case, f"{case_id}: a matching case names the condition expected to match"
    found = matcher.match(case["input"])
    got = found.runbook.id if found else None
    assert got == expected, f"matched {found.condition.name if found else None}: {found.text if found else ''}"
    if found:
        assert found.condition.name == case["condition"]
        # the reported text really occurs in the normalised paste (whitespace-insensitive)
        assert " ".join(found.text.split()).lower() in " ".join(normalise(case["input"]).split()).lower()
        # the pre-filter never rejects a line-by-line match of the same text
        assert matcher.might_match(normalise(case["input"]))
    # the literal index a log scan uses picks the very same condition as testing each one
    indexed = matcher.match_candidate(case["input"])
    assert (indexed and (indexed.runbook.id, indexed.condition.name, indexed.text)) == \
        (found and (found.runbook.id, found.condition.name, found.text))


def test_match_names_condition_and_exact_text(matcher: Matcher) -> None:
    found = matcher.match('connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  sorry, too many clients already')
    assert found is not None
    assert (found.runbook.id, found.condition.name, found.text) == ("slot-exhaustion", "too-many-clients",
                                                                    "too many clients already")


def test_first_runbook_in_order_wins(matcher: Matcher) -> None:
    # Both an auth phrase and a TLS phrase: auth-failure (order 10) precedes connect-failure (60).
    text = ('FATAL: password authentication failed for user "u" connection to server at "ep-x.neon.tech" '
            '(1.1.1.1), port 5432 failed: ERROR: connection is insecure (try using `sslmode=require`)')
    assert matcher.match(text).runbook.id == "auth-failure"
    assert [matcher.match(text).condition.name for _ in range(3)] == ["password-authentication-failed"] * 3


@pytest.mark.parametrize("raw, expected", [
    ("web_1  | FATAL: x\nweb_1  | more", "FATAL: x\nmore"),
    ("a<br/>b<BR>c", "a\nb\nc"),
    ("a\r\nb", "a\nb"),
    ("\x1b[31mred\x1b[0m", "red"),
    ('{"msg": "boom\\nline2", "level": "error"}', "boom\nline2"),
    ("Jan  2 03:04:05 host app[12]: hello", "hello"),
])
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_scan_big_log_line_by_line(matcher: Matcher) -> None:
    noise = "INFO request handled in 12 ms path=/api/items status=200\n"
    log = noise * 50_000 + "ERROR psycopg2.OperationalError: SSL SYSCALL error: EOF detected\n" + noise * 10
    hits = list(matcher.scan(log.splitlines()))
    assert [(n, m.runbook.id) for n, m in hits] == [(50_001, "stale-connection")]


def test_pathological_input_is_fast(matcher: Matcher) -> None:
    text = ("a" * 5000 + " ") * 40 + '"' * 10_000
    start = time.perf_counter()
    assert matcher.match(text) is None
    assert time.perf_counter() - start < 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_matches_deterministically_and_fast(text: str) -> None:
    m = _MATCHER
    start = time.perf_counter()
    first = m.match(text)
    assert time.perf_counter() - start < 1
    second = m.match(text)
    assert (first and (first.runbook.id, first.condition.name, first.text)) == \
        (second and (second.runbook.id, second.condition.name, second.text))
    if first is None:  # the line-by-line path agrees: nothing in any single line matches either
        assert all(m.match_line(line) is None for line in text.splitlines())


_INDEXES = (LiteralIndex(_MATCHER._conditions), LiteralIndex(_MATCHER._conditions, use_re2=False))
_WORDS = sorted({w for lit in _MATCHER.literals for w in (lit, lit[:3], lit[1:])})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=8)), max_size=25).map("".join))
def test_the_literal_index_picks_the_conditions_each_literal_test_would(text: str) -> None:
    """Built from the literals themselves, overlapping and cut short: the index is exact, not a guess,
    with an RE2 set (google-re2 installed) and with the regex it falls back to."""
    lowered = text.lower()
    expected = [i for i, (_, cond) in enumerate(_MATCHER._conditions)
                if not cond.literals or any(lit in lowered for lit in cond.literals)]
    for index in _INDEXES:
        assert index.conditions(lowered) == expected
        assert index.any(lowered) == any(lit in lowered for lit in _MATCHER.literals)


def test_both_index_paths_are_tested() -> None:
    assert _INDEXES[0]._set is not None and _INDEXES[1]._set is None


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(GOLDEN), st.text(alphabet=" \t\n|{}<>", max_size=30),
       st.text(alphabet="abcdefghij .:\n", max_size=200))
def test_golden_survives_surrounding_noise(golden: tuple[str, str | None, dict], prefix: str, suffix: str) -> None:
    _, expected, case = golden
    if expected is None:
        return
    found = _MATCHER.match(f"{prefix}\n{case['input']}\n{suffix}")
    assert found is not None and found.runbook.id == expected


def test_match_line_sees_through_escapes(matcher: Matcher) -> None:
    for line in ['<p>FATAL: role &quot;bob&quot; does not exist</p>',
                 '{"msg": "FATAL: role \\u0022bob\\u0022 does not exist"}',
                 'FATAL: pass\x1b[0mword authentication failed for user "x"']:
        found = matcher.match_line(line)
        assert found is not None and found.runbook.id == "auth-failure", line
