"""The condition keys beyond the operator: `context` (where the stack says the error was raised) and
`unless` (another stack's words that veto a generic match), validated up front and applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from neondoctor.errors import ConfigError
from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import validate_dir

STEPS = [{"id": "s", "cause": "c", "manual": "look"}]


def _book(tmp_path: Path, match: list[dict]) -> Path:
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"id": "r", "title": "t", "order": 1, "match": match,
                                                     "steps": STEPS}))
    return tmp_path


@pytest.mark.parametrize(("extra", "problem"), [
    ({"context": "connecting"}, "match[0].context: must be one or a list of: connect, in-use, unknown"),
    ({"context": []}, "match[0].context"),
    ({"unless": "x"}, "match[0].unless: must be a list of phrases"),
    ({"unless": [""]}, "match[0].unless"),
])
def test_bad_keys_are_reported_with_their_path(tmp_path: Path, extra: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_dir(_book(tmp_path, [{"name": "n", "contains": "boom", **extra}]))
    assert problem in err.value.message


def test_context_and_unless_decide(tmp_path: Path) -> None:
    books = validate_dir(_book(tmp_path, [
        {"name": "at-connect", "contains": "boom", "context": "connect"},
        {"name": "elsewhere", "contains": "boom", "unless": ["HTTPSConnectionPool("]},
    ]))
    m = Matcher(books, translations=False)
    connect = '  File "/x/psycopg2/__init__.py", line 122, in connect\n    conn = _connect(dsn)\nE: boom'
    assert m.match(connect).condition.name == "at-connect"
    assert m.match("E: boom").condition.name == "elsewhere"
    assert m.match("HTTPSConnectionPool(host='x', port=443): boom") is None


def test_words_limited_to_a_context_match_somewhere_in_every_context() -> None:
    """A shipped condition limited to some contexts leaves no gap: the same words raised anywhere else
    still match a runbook (stale at in-use/unknown, connect failure at connect)."""
    from neondoctor.triage.runbook import load_runbooks

    m = Matcher(load_runbooks())
    frames = {"connect": '  File "/x/psycopg2/__init__.py", line 122, in connect\n    conn = _connect(dsn)\n',
              "in-use": '  File "/x/engine/default.py", line 9, in do_execute\n    cursor.execute(s)\n', "unknown": ""}
    for words in ("server closed the connection unexpectedly", "SSL connection has been closed unexpectedly",
                  "SSL SYSCALL error: EOF detected", "SSL SYSCALL error: Success"):
        for context, stack in frames.items():
            found = m.match(f"{stack}psycopg2.OperationalError: {words}")
            assert found is not None and found.context == context, (words, context)
            assert found.runbook.id == ("connect-failure" if context == "connect" else "stale-connection")
