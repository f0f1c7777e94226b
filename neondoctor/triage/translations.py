"""PostgreSQL's own translations of the messages the runbooks match.

A server with `lc_messages = 'de_DE.UTF-8'` says `Passwort-Authentifizierung für Benutzer »app«
fehlgeschlagen`, and libpq follows the client's locale. translations.json (written by
scripts/extract_translations.py from the .mo catalogs PostgreSQL ships) maps a shipped condition
(`runbook-id/condition-name`) to the catalogs' translations of its message (one per line:
language, msgid index, msgstr, regex, literal, see the script). Each translation becomes
one more condition of the same name: printf placeholders (`%s`, `»%s«` keeps its quotes) become
bounded wildcards, whitespace any run of whitespace, and its longest word is the pre-filter literal.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from neondoctor.triage.runbook import Condition, Runbook, literal_pattern

DATA = Path(__file__).with_name("translations.json")
# printf conversions as PostgreSQL's catalogs use them (%s, %d, %u, %lld, %m, %1$s, %c); %% is a literal %.
_PLACEHOLDER = re.compile(r"%(?:\d+\$)?[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t|L)?[sdiuxXcfgeEpm]")
_TOKEN = re.compile(f"(%%|{_PLACEHOLDER.pattern})")
_WILDCARD = r"[^\n]{0,300}?"
MIN_LITERAL = 4  # a translation whose longest word weighs less would match too much


def weight(word: str) -> int:
    """Letters a word is worth as evidence: a CJK or Hangul character carries about a Latin syllable."""
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in word)


def phrase(msgstr: str) -> str:
    """The part of a catalog string a condition matches: its first line, without a trailing colon/space."""
    first = msgstr.strip("\n").split("\n", 1)[0].strip()
    return first.rstrip(": ").strip()


def pattern_and_literal(msgstr: str) -> tuple[str, str] | None:
    """(regex, lower-case literal) for one translated message; None when it would match too much."""
    pieces = [""]
    for token in _TOKEN.split(phrase(msgstr)):  # text, then a `%%` or a placeholder, then text ...
        if token == "%%":
            pieces[-1] += "%"
        elif token and _PLACEHOLDER.fullmatch(token):
            pieces.append("")
        else:
            pieces[-1] += token
    words = [w for p in pieces for w in p.split()]
    if not words:
        return None
    literal = max(words, key=weight)
    if weight(literal) < MIN_LITERAL:
        return None
    return _pattern(pieces), literal.lower()


def _ideographic(ch: str) -> bool:
    """CJK and Hangul letters (not their punctuation): scripts written without spaces between words."""
    code = ord(ch)
    return code >= 0x2E80 and not (0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFF65)


def candidate_literals(msgstr: str) -> list[str]:
    """Every word of the message that may serve as its pre-filter literal (lower-case, heavy enough),
    and, in scripts without spaces, every run of 2 or 3 of its letters (a word shared by messages)."""
    text = _TOKEN.sub(" ", phrase(msgstr))
    words = [w.lower() for w in text.split() if weight(w) >= MIN_LITERAL]
    grams = [w[i:i + n] for w in words for n in (2, 3) for i in range(len(w) - n + 1)
             if all(_ideographic(ch) for ch in w[i:i + n])]
    return words + grams


def _pattern(pieces: list[str]) -> str:
    # leading/trailing placeholders add nothing to a search: drop them
    pieces = list(pieces)
    while pieces and not pieces[0].strip():
        pieces.pop(0)
    while pieces and not pieces[-1].strip():
        pieces.pop()
    return _WILDCARD.join(literal_pattern(p) for p in pieces)


_GROUPS = {"host": r'(?P<host>[^\n"»«“”]{1,255}?)', "addr": r"(?P<addr>[^\n()]{1,100}?)", "port": r"(?P<port>\d{1,5})",
           "socket": r'(?P<socket>/[^\n"»«“”]{0,255}?)'}


def prefix_pattern(msgstr: str, groups: tuple[str, ...]) -> str | None:
    """libpq's translated `connection to server at "%s" ... failed: ` as a regex with named groups."""
    tokens = _TOKEN.split(msgstr.strip().rstrip(":：").strip())
    out, names = [], list(groups)
    for token in tokens:
        if token == "%%":
            out.append("%")
        elif token and _PLACEHOLDER.fullmatch(token):
            if not names:
                return None
            out.append(_GROUPS[names.pop(0)])
        elif token.strip():  # whitespace at its edges separates it from the placeholders: keep it
            lead, trail = (r"\s*" if token[0].isspace() else ""), (r"\s*" if token[-1].isspace() else "")
            out.append(lead + literal_pattern(token) + trail)
        elif token:
            out.append(r"\s*")
    return "".join(out) if not names else None


@cache
def connect_prefixes() -> tuple[re.Pattern[str], ...]:
    """The translated libpq prefixes, compiled (first use only: a paste in English never needs them)."""
    return tuple(re.compile(regex, re.IGNORECASE) for _lang, _msgstr, regex in load().get("connect_prefixes", []))


@cache
def load() -> dict[str, Any]:
    try:
        return json.loads(DATA.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"conditions": {}}


@cache
def _translated(key: str, contexts: tuple[str, ...], unless: tuple[str, ...]) -> tuple[Condition, ...]:
    name = key.split("/", 1)[1]
    out: list[Condition] = []
    seen: set[str] = set()
    for _lang, _msgid, msgstr, regex, literal in load().get("conditions", {}).get(key, {}).get("translations", []):
        if regex in seen:  # the same wording in two catalogs (server and libpq)
            continue
        seen.add(regex)
        # Built here from the catalogs' own text (escaped words, bounded wildcards): shipped like the
        # runbooks, so it runs on `re` without a time budget, as they do.
        out.append(Condition(name=name, operator="regex", value=msgstr, regex=regex, literals=(literal,),
                             contexts=contexts, unless=unless, where=f"{DATA.name}: {key}", shipped=True))
    return tuple(out)


def with_translations(book: Runbook) -> Runbook:
    """The runbook with each condition followed by its translations (same name, context and vetoes)."""
    table = load().get("conditions", {})
    if not any(f"{book.id}/{c.name}" in table for c in book.conditions):
        return book
    merged: list[Condition] = []
    for cond in book.conditions:
        merged.append(cond)
        key = f"{book.id}/{cond.name}"
        if key in table:
            merged.extend(_translated(key, cond.contexts, cond.unless))
    return replace(book, conditions=tuple(merged))


def languages() -> list[str]:
    return list(load().get("languages", []))
