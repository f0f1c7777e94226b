"""PostgreSQL's own translations: the committed data is what the script extracts from the catalogs,
the matcher and the log scan use it, and placeholders become bounded wildcards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neondoctor.triage import translations
from neondoctor.triage.matcher import Matcher
from neondoctor.triage.runbook import load_runbooks

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "extract_translations.py"
REQUIRED = {"de", "fr", "es", "it", "ja", "ko", "ru", "zh_CN"}  # pt_BR: PostgreSQL 15's catalogs have none


def test_committed_data_is_what_the_script_extracts(tmp_path: Path) -> None:
    if not list(Path("/usr/share/locale").glob("*/LC_MESSAGES/postgres-15.mo")):
        pytest.fail("PostgreSQL 15's message catalogs are missing (apt-get install postgresql-15 libpq5)")
    out = tmp_path / "t.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--output", str(out)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    fresh, committed = json.loads(out.read_text()), json.loads(translations.DATA.read_text())
    assert fresh["conditions"] == committed["conditions"], "regenerate: python scripts/extract_translations.py"
    assert committed["postgresql_major"] == 15 and committed["postgresql_package"]


def test_every_key_names_a_shipped_condition_and_languages_are_covered() -> None:
    data = translations.load()
    known = {f"{b.id}/{c.name}" for b in load_runbooks() for c in b.conditions}
    assert set(data["conditions"]) <= known
    assert set(data["languages"]) >= REQUIRED
    langs = {t[0] for t in data["conditions"]["auth-failure/password-authentication-failed"]["translations"]}
    assert langs >= REQUIRED


@pytest.mark.parametrize(("msgstr", "matches", "not_matches"), [
    ("Passwort-Authentifizierung für Benutzer »%s« fehlgeschlagen",
     "FATAL:  Passwort-Authentifizierung für Benutzer »neondb_owner« fehlgeschlagen",
     "Passwort-Authentifizierung für Benutzer fehlgeschlagen"),
    ("konnte Hostnamen »%s« nicht in Adresse übersetzen: %s\n", "konnte Hostnamen »db« nicht in Adresse übersetzen: x",
     "konnte Hostnamen nicht übersetzen"),
    ('ユーザー"%s"のパスワード認証に失敗しました', 'ユーザー"app"のパスワード認証に失敗しました', "パスワード認証"),
    ("%d%% done for %s", "50% done for x", "50 done for x"),
])
def test_placeholders_become_bounded_wildcards(msgstr: str, matches: str, not_matches: str) -> None:
    made = translations.pattern_and_literal(msgstr)
    assert made is not None
    regex, literal = made
    assert re.search(regex, matches, re.IGNORECASE)
    assert not re.search(regex, not_matches, re.IGNORECASE)
    assert literal in matches.lower()


def test_translated_literals_are_shared_and_never_english_words() -> None:
    """Few distinct literals for the log pre-filter, none that English logs are full of."""
    rows = [r for entry in translations.load()["conditions"].values() for r in entry["translations"]]
    literals = {r[4] for r in rows}
    assert len(literals) < 0.75 * len(rows)
    assert not literals & {"database", "password", "server", "connection", "authentication", "ssl"}
    assert all(r[4] in r[2].lower() for r in rows)  # each literal occurs in its own message


def test_too_short_translations_are_refused() -> None:
    assert translations.pattern_and_literal("%s: %s") is None
    assert translations.pattern_and_literal("ab %s") is None


def test_translated_literals_reach_the_line_pre_filter() -> None:
    matcher = Matcher(load_runbooks())
    rows = translations.load()["conditions"]["auth-failure/password-authentication-failed"]["translations"]
    german = next(row for row in rows if row[0] == "de")
    assert german[4] in matcher.literals  # what the log scanner builds its anchors from
    line = "2026-11-25 03:04:05 UTC [77] FATAL:  Passwort-Authentifizierung für Benutzer »app« fehlgeschlagen"
    found = matcher.match_line(line)
    assert found is not None and found.condition.name == "password-authentication-failed"
    assert Matcher(load_runbooks(), translations=False).match_line(line) is None


def test_log_scan_finds_translated_messages(tmp_path: Path, cli: Any) -> None:
    log = tmp_path / "app.log"
    noise = "INFO request handled in 12 ms\n" * 200
    log.write_text(noise + "ВАЖНО:  извините, уже слишком много клиентов\n" + noise, encoding="utf-8")
    done = cli("triage", "--log", str(log), "--json")
    assert done.returncode == 0, done.stderr
    assert "slot-exhaustion" in done.stdout


def test_translated_conditions_run_as_the_shipped_ones_do() -> None:
    """Built by neondoctor from the catalogs: kept on `re` without a time budget (as its own runbooks
    are, not as a user's regex), and an error about one names where it comes from."""
    translated = [cond for book in Matcher(load_runbooks()).runbooks for cond in book.conditions
                  if cond.where.startswith(f"{translations.DATA.name}: ")]
    assert len(translated) > 100
    assert all(cond.shipped for cond in translated)
    for cond in translated[:20]:
        assert cond.pattern.searcher == re.compile(cond.regex, re.IGNORECASE).search
