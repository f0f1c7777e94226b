"""Which runbook does a pasted error belong to?

The paste is normalised first (ANSI colours, NUL bytes, HTML line breaks, CRLF, docker-compose and
syslog prefixes, JSON log lines), then each runbook's conditions are tried in runbook order; the
first match wins, so the result is deterministic. `Matcher.match_line` adds a cheap literal
pre-filter derived from the runbooks, for scanning big logs line by line.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from neondoctor.triage.runbook import Condition, Runbook

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAGS = re.compile(r"</?(?:p|div|pre|code|span)(?:\s[^<>]{0,200})?>", re.IGNORECASE)
# docker-compose `web_1  | `, `web-1  | `; kubectl/stern `pod container `; plain `|` gutters.
_COMPOSE = re.compile(r"^[\w.-]{1,64}\s{0,20}\|\s?", re.MULTILINE)
# syslog: `Jan  2 03:04:05 host prog[123]: `, ISO timestamps with an optional level.
_SYSLOG = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S{1,100} [\w./-]{1,100}(?:\[\d{1,10}\])?: ", re.MULTILINE)
_ESCAPES = ("&", "\x1b", "\\", "\x00")
_JSON_KEYS = ("message", "msg", "error", "err", "exception", "exc_info", "stack", "stack_trace", "detail", "log",
              "event", "textPayload")


@dataclass(frozen=True)
class Match:
    runbook: Runbook
    condition: Condition
    text: str  # the exact matched text (after normalisation)

    @property
    def pattern(self) -> str:
        return self.condition.name


def _unwrap_json(line: str) -> str:
    stripped = line.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return line
    try:
        obj = json.loads(stripped)
        if not isinstance(obj, dict):
            return line
        parts = [str(obj[k]) for k in _JSON_KEYS if k in obj and obj[k] not in (None, "")]
    except (ValueError, RecursionError):  # not JSON, or nested too deep to be a log record: keep it as text
        return line
    if not parts:  # no known key: keep every string value
        parts = [v for v in obj.values() if isinstance(v, str)]
    return "\n".join(parts) if parts else line


def normalise(text: str) -> str:
    """The paste as the driver printed it: wrappers removed, line breaks restored."""
    text = text.replace("\x00", "")
    text = _ANSI.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _BR.sub("\n", text)
    text = _TAGS.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    text = "\n".join(_unwrap_json(line) for line in text.split("\n"))
    # JSON strings and some loggers keep newlines and tabs as literal escapes.
    text = text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    text = _SYSLOG.sub("", text)
    text = _COMPOSE.sub("", text)
    return text


class Matcher:
    """Runbooks compiled for matching; build once, match many times."""

    def __init__(self, runbooks: Sequence[Runbook]) -> None:
        self.runbooks = sorted(runbooks, key=lambda b: (b.order, b.id))
        literals: set[str] = set()
        self._unfiltered = False
        for book in self.runbooks:
            for cond in book.conditions:
                if cond.literals:
                    literals.update(cond.literals)
                else:
                    self._unfiltered = True  # a condition without a literal: every line is a candidate
        self.literals = tuple(sorted(literals))
        self._prefilter = re.compile("|".join(re.escape(lit) for lit in self.literals), re.IGNORECASE) \
            if self.literals else None

    def might_match(self, text: str) -> bool:
        """Cheap test: False means no condition can match this text."""
        if self._unfiltered:
            return True
        return bool(self._prefilter and self._prefilter.search(text))

    def match(self, text: str) -> Match | None:
        """The first runbook (in order) with a condition matching the normalised paste."""
        clean = normalise(text)
        if not self.might_match(clean):
            return None
        return self._match_clean(clean)

    def _match_clean(self, clean: str) -> Match | None:
        lowered = clean.lower()
        for book in self.runbooks:
            for cond in book.conditions:
                # A condition whose literals are all absent cannot match: skip it without compiling.
                if cond.literals and not any(lit in lowered for lit in cond.literals):
                    continue
                found = cond.pattern.search(clean)
                if found:
                    matched = found.group(found.lastindex or 0) if cond.operator == "all" else found.group(0)
                    return Match(book, cond, " ".join(matched.split()))
        return None

    def match_line(self, line: str) -> Match | None:
        """For scanning a log line by line: the pre-filter runs on the raw line first."""
        if not self.might_match(line):
            # Escapes (HTML entities, ANSI codes, JSON \u sequences, NULs) can hide a literal: undo them first.
            if not any(c in line for c in _ESCAPES):
                return None
            clean = normalise(line)
            return self._match_clean(clean) if self.might_match(clean) else None
        return self._match_clean(normalise(line))

    def scan(self, lines: Iterable[str]) -> Iterable[tuple[int, Match]]:
        for number, line in enumerate(lines, 1):
            found = self.match_line(line)
            if found:
                yield number, found


def match_text(text: str, runbooks: Sequence[Runbook]) -> Match | None:
    return Matcher(runbooks).match(text)
