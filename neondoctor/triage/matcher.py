"""Which runbook does a pasted error belong to?

The paste is normalised first (ANSI colours, NUL bytes, HTML line breaks, CRLF, docker-compose and
syslog prefixes, JSON log lines), then each runbook's conditions are tried in runbook order; the
first match wins, so the result is deterministic. A condition with `context:` matches only where
the stack shows the error was raised (triage/context.py: connect, in-use, unknown). Each shipped
condition also matches PostgreSQL's and libpq's own translations of its message
(triage/translations.py). `Matcher.match_line` adds a cheap literal pre-filter derived from all of
them, for scanning big logs line by line: `Matcher.literals` holds every literal, translated ones
included, and `Matcher.runbooks` the runbooks with their translated conditions merged in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from neondoctor.triage.context import raised_in
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
    context: str = "unknown"  # where the stack says the error was raised: connect | in-use | unknown

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
    """The paste as the driver printed it: wrappers removed, line breaks restored.

    Each step runs only when the character it needs is present: a plain log line skips them all."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "<" in text:
        text = _TAGS.sub("", _BR.sub("\n", text))
    if "&" in text:
        import html  # only for a paste with entities: start-up does not pay for it

        text = html.unescape(text)
    if "{" in text:
        text = "\n".join(_unwrap_json(line) for line in text.split("\n"))
    if "\\" in text:  # JSON strings and some loggers keep newlines and tabs as literal escapes
        text = text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    text = _SYSLOG.sub("", text)
    if "|" in text:
        text = _COMPOSE.sub("", text)
    return text


def trie_pattern(words: Iterable[str]) -> str:
    """One regex for many literals, shaped as a prefix tree: re tries one branch per character instead
    of every literal at every position (hundreds of literals once translations are in)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        if "" in node and len(node) > 1:
            return ""  # a shorter literal ends here: it alone decides the match
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(trie)


class LiteralIndex:
    """Which conditions have a literal in a text, found without testing each of the ~800 conditions.

    With google-re2 (`neondoctor[fast]`), one RE2 set of every literal names those present in one
    linear pass. Without it (or for a text longer than `SET_MAX`), one regex finds every position
    where some literal starts (a lookahead over the literals' prefix tree), and the literals starting
    there are looked up by their first two characters and confirmed. Each literal found names the
    conditions it belongs to. A log line costs microseconds instead of a loop over every condition.
    """

    HEAD = 2  # characters of a literal's start that key the lookup
    SET_MAX = 1 << 16  # characters: a longer text takes the regex path (an RE2 set has no fallback
    # when its DFA runs out of memory, and would then report nothing)
    MEMO_MAX = 4096  # sets of literals remembered with their conditions (memory stays bounded)

    def __init__(self, conditions: Sequence[tuple[Runbook, Condition]], *, use_re2: bool = True) -> None:
        self.always: list[int] = []  # conditions without a literal: candidates for any text
        self.owners: dict[str, list[int]] = {}  # literal -> conditions, by their position in the order
        for i, (_book, cond) in enumerate(conditions):
            if not cond.literals:
                self.always.append(i)
            for lit in cond.literals:
                self.owners.setdefault(lit, []).append(i)
        self.heads: dict[str, list[str]] = {}
        self.short: list[str] = []  # literals shorter than HEAD: tested one by one
        for lit in self.owners:
            if len(lit) < self.HEAD:
                self.short.append(lit)
            else:
                self.heads.setdefault(lit[:self.HEAD], []).append(lit)
        self._starts: re.Pattern[str] | None = None
        self._by_id = list(self.owners)
        self._by_present: dict[tuple[str, ...], list[int]] = {}
        self._set = _literal_set(self._by_id) if use_re2 else None

    @property
    def starts(self) -> re.Pattern[str]:
        if self._starts is None:
            self._starts = re.compile("(?=" + trie_pattern(self.owners) + ")") if self.owners else re.compile("(?!)")
        return self._starts

    def present(self, lowered: str) -> list[str]:
        """The literals that occur in this lower-cased text."""
        if self._set is not None and len(lowered) <= self.SET_MAX:
            by_id = self._by_id
            return [by_id[i] for i in self._set.Match(lowered) or ()]
        found = [lit for lit in self.short if lit in lowered]
        heads = self.heads
        for at in self.starts.finditer(lowered):
            pos = at.start()
            found.extend(lit for lit in heads.get(lowered[pos:pos + self.HEAD], ()) if lowered.startswith(lit, pos))
        return found

    def any(self, lowered: str) -> bool:
        if self._set is not None and len(lowered) <= self.SET_MAX:
            return bool(self._set.Match(lowered))
        return any(lit in lowered for lit in self.short) or self.starts.search(lowered) is not None

    def conditions(self, lowered: str) -> list[int]:
        """Positions (in match order) of the conditions that can match this lower-cased text."""
        present = tuple(self.present(lowered))
        known = self._by_present.get(present)
        if known is None:  # log lines repeat their messages: each set of literals is resolved once
            found = set(self.always)
            owners = self.owners
            for lit in present:
                found.update(owners[lit])
            known = self._by_present[present] = sorted(found)
            if len(self._by_present) > self.MEMO_MAX:
                self._by_present.clear()
        return known


def _literal_set(literals: Sequence[str]) -> Any:
    """An RE2 set of the literals (ids in order), or None without google-re2."""
    if not literals:
        return None
    try:
        import re2
    except ImportError:
        return None
    options = re2.Options()
    options.literal = True
    options.max_mem = 64 << 20
    found = re2.Set.SearchSet(options)
    for i, lit in enumerate(literals):
        if found.Add(lit) != i:
            return None
    found.Compile()
    return found


class Matcher:
    """Runbooks compiled for matching; build once, match many times."""

    def __init__(self, runbooks: Sequence[Runbook], *, translations: bool = True) -> None:
        if translations:
            from neondoctor.triage.translations import with_translations

            runbooks = [with_translations(book) for book in runbooks]
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
        self._conditions = [(book, cond) for book in self.runbooks for cond in book.conditions]
        self._searches: list[Callable[[str], Any] | None] = [None] * len(self._conditions)
        self._index: LiteralIndex | None = None  # built on first line of a log: one paste needs none

    @property
    def index(self) -> LiteralIndex:
        if self._index is None:
            self._index = LiteralIndex(self._conditions)
        return self._index

    def prepare(self) -> None:
        """Build now what matching many lines needs (the literal index), before the first line; readers
        forked after it (a log dense with errors, whose readers match) share it."""
        _ = self.index

    def might_match(self, text: str) -> bool:
        """Cheap test: False means no condition can match this text."""
        return self._unfiltered or self.index.any(text.lower())

    def match(self, text: str) -> Match | None:
        """The first runbook (in order) with a condition matching the normalised paste.

        No global pre-filter here: each condition's own literal test is cheaper than building one."""
        return self._match_clean(normalise(text), indexed=False)

    def _candidates(self, lowered: str, indexed: bool) -> Iterable[int]:
        """Positions, in order, of the conditions that have one of their literals in the text (or none at all)."""
        if indexed:
            return self.index.conditions(lowered)
        # One paste: testing each condition's literals is cheaper than building the index.
        return (i for i, (_book, cond) in enumerate(self._conditions)
                if not cond.literals or any(lit in lowered for lit in cond.literals))

    def _search(self, i: int) -> Callable[[str], Any]:
        """The search of condition i, compiled on its first use (a log line tries the same few again and again)."""
        search = self._searches[i]
        if search is None:
            search = self._searches[i] = self._conditions[i][1].pattern.searcher
        return search

    def _match_clean(self, clean: str, *, indexed: bool = True) -> Match | None:
        lowered = clean.lower()
        context: str | None = None  # read from the stack only when a condition asks
        conditions = self._conditions
        for i in self._candidates(lowered, indexed):
            book, cond = conditions[i]
            if cond.contexts:
                context = context or raised_in(clean)
                if context not in cond.contexts:
                    continue
            if cond.unless and any(u in lowered for u in cond.unless):
                continue
            found = self._search(i)(clean)
            if found:
                matched = found.group(found.lastindex or 0) if cond.operator == "all" else found.group(0)
                return Match(book, cond, " ".join(matched.split()), context or raised_in(clean))
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

    def match_candidate(self, line: str) -> Match | None:
        """For a log line in which a scanner's pre-filter already found a literal: no second pre-filter."""
        return self._match_clean(normalise(line))

    def scan(self, lines: Iterable[str]) -> Iterable[tuple[int, Match]]:
        for number, line in enumerate(lines, 1):
            found = self.match_line(line)
            if found:
                yield number, found


def match_text(text: str, runbooks: Sequence[Runbook]) -> Match | None:
    return Matcher(runbooks).match(text)
