"""Audit a git repository for committed database credentials (what `neondoctor secrets` reports).

Checks: `.env` is ignored by `.gitignore`; no `.env` file is tracked; no staged file holds a
connection string (secret_patterns.py: URL userinfo or `?password=`, key=value DSN, `*_PASSWORD`
variables, base64-encoded DSNs) with a real-looking password; `.env.example` holds placeholders only.
Files are read from the index, not the working tree (git_blobs.py); `history=True` also reads every
blob reachable from any ref, each once, with a commit that introduced it. Findings carry file:line
and a masked excerpt: the password itself is never part of a finding.

A line containing `neondoctor: allow-secret` is skipped (for deliberate test fixtures).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neondoctor.audit.git_blobs import Blob, BlobReader, history_blobs, index_blobs
from neondoctor.audit.secret_patterns import ALLOW_MARKER, is_placeholder, scan_line
from neondoctor.errors import EXIT_FINDINGS, EXIT_OK, ConfigError
from neondoctor.findings import SEVERITIES
from neondoctor.redaction import MASK, redact

__all__ = ["ALLOW_MARKER", "SecretFinding", "SecretsReport", "audit_repository", "is_placeholder", "scan_text"]

EXAMPLE_NAMES = (".env.example", ".env.sample", ".env.template", ".env.dist")
_GIT_TIMEOUT = 30
_HISTORY_TIMEOUT = 300
_EXCERPT = 160
# KEY=value lines in .env.example whose key names a secret.
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key)")


@dataclass(frozen=True)
class SecretFinding:
    id: str
    severity: str
    path: str  # relative to the repository root
    line: int | None
    message: str
    excerpt: str | None = None  # the line with the secret masked
    commit: str | None = None  # --history: a commit that introduced the content

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def location(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where} (commit {self.commit[:12]})" if self.commit else where

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "file": self.path, "line": self.line,
                "message": self.message, "excerpt": self.excerpt, "commit": self.commit}


@dataclass
class SecretsReport:
    root: Path
    files_scanned: int
    findings: list[SecretFinding]
    history_blobs_scanned: int | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_FINDINGS if self.findings else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"repository": str(self.root), "files_scanned": self.files_scanned,
                               "findings": [f.to_dict() for f in self.findings]}
        if self.history_blobs_scanned is not None:
            doc["history_blobs_scanned"] = self.history_blobs_scanned
        return doc


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT)
    except FileNotFoundError:
        raise ConfigError("git is not installed: `neondoctor secrets` audits a git repository") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"git {args[0]} did not finish within {_GIT_TIMEOUT}s") from None
    if check and proc.returncode != 0:
        raise ConfigError(f"git {args[0]} failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
    return proc


def repo_root(path: str | Path | None = None) -> Path:
    """The top of the git work tree containing `path` (the working directory by default)."""
    start = Path(path or Path.cwd())
    if not start.is_dir():
        raise ConfigError(f"{start} is not a directory")
    proc = _git(start, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        if "dubious ownership" in proc.stderr:
            raise ConfigError(f"git refuses {start}: dubious ownership (the repository belongs to another user); "
                              f"git config --global --add safe.directory {start}")
        raise ConfigError(f"{start} is not inside a git repository (secrets audits a git work tree)")
    return Path(proc.stdout.strip())


def _is_env_file(rel: str) -> bool:
    name = Path(rel).name
    return name == ".env" or (name.startswith(".env.") and name not in EXAMPLE_NAMES)


def _excerpt(line: str, spans: list[tuple[int, int]]) -> str:
    """The line around its first secret, secrets masked, at most _EXCERPT characters."""
    first = min(start for start, _ in spans)
    lo = max(0, first - _EXCERPT // 3)
    for start, end in sorted(spans, reverse=True):
        line = line[:start] + MASK + line[end:]
    text = redact(line[lo:lo + 4 * _EXCERPT].strip())
    text = ("..." if lo else "") + text
    return text if len(text) <= _EXCERPT else text[:_EXCERPT - 3] + "..."


def scan_text(text: str) -> list[tuple[int, str, list[tuple[int, int]]]]:
    """(line number, kind, secret spans) for every line holding a real-looking credential."""
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = scan_line(line)
        if found:
            hits.append((number, found[0], found[1]))
    return hits


def _scan_blob(reader: BlobReader, blob: Blob, *, is_example: bool) -> list[SecretFinding]:
    fid = "secrets.example-not-placeholder" if is_example else "secrets.credential-in-file"
    what = f"{Path(blob.path).name} must hold placeholders only:" if is_example else "a tracked file holds"
    if blob.commit:
        what = "the git history holds"
    out: dict[int, SecretFinding] = {}
    for number, line in reader.lines(blob.sha):
        if number in out:
            continue  # one finding per line, even when a long line is read window by window
        found = scan_line(line)
        if found:
            kind, spans = found
            out[number] = SecretFinding(
                fid, "critical", blob.path, number,
                f"{what} a {kind} with a real-looking password; use a placeholder like <password> or "
                "${DB_PASSWORD} and rotate the password" + (" (it stays in the history until rewritten)"
                                                            if blob.commit else ""),
                _excerpt(line, spans), blob.commit)
        elif is_example and not blob.commit:
            for finding in _example_secret_keys(blob.path, number, line):
                out[number] = finding
    return list(out.values())


def audit_repository(path: str | Path | None = None, *, history: bool = False) -> SecretsReport:
    root = repo_root(path)
    blobs = index_blobs(root, _GIT_TIMEOUT)
    findings: list[SecretFinding] = []

    # 1. .env is ignored (--no-index: a tracked .env must still match a .gitignore rule).
    ignored = _git(root, "check-ignore", "-q", "--no-index", ".env", check=False).returncode == 0
    if not ignored:
        findings.append(SecretFinding("secrets.env-not-ignored", "warn", ".gitignore", None,
                                      ".env is not ignored by git: add a line `.env` to .gitignore"))

    # 2. no .env is tracked (a tracked symlink named .env counts too).
    for rel in sorted({rel for rel in _git(root, "ls-files", "-z").stdout.split("\0") if rel}):
        if _is_env_file(rel):
            findings.append(SecretFinding(
                "secrets.env-tracked", "critical", rel, None,
                f"{rel} is tracked by git: `git rm --cached {rel}`, keep it ignored, and rotate any "
                "password it ever held (it stays in the history)"))

    # 3. staged files with credentials; 4. example files with placeholders only; 5. the history.
    scanned_history = None
    with BlobReader(root) as reader:
        for blob in blobs:
            findings.extend(_scan_blob(reader, blob, is_example=Path(blob.path).name in EXAMPLE_NAMES))
        if history:
            staged = {blob.sha for blob in blobs}
            past = [b for b in history_blobs(root, _HISTORY_TIMEOUT) if b.sha not in staged]
            scanned_history = len(past)
            for blob in past:
                findings.extend(_scan_blob(reader, blob, is_example=False))

    findings.sort(key=lambda f: (f.commit is not None, f.path, f.line or 0, f.id, f.commit or ""))
    return SecretsReport(root=root, files_scanned=len(blobs), findings=findings,
                         history_blobs_scanned=scanned_history)


def _example_secret_keys(rel: str, number: int, line: str) -> list[SecretFinding]:
    match = _ENV_LINE.match(line)
    if not match or line.lstrip().startswith("#") or ALLOW_MARKER in line:
        return []
    key, value = match.group("key"), match.group("value").strip("'\"")
    if "://" in value or not _SECRET_KEY.search(key) or not value or is_placeholder(value):
        return []
    start = line.find(match.group("value"))
    return [SecretFinding(
        "secrets.example-not-placeholder", "critical", rel, number,
        f"{key} in {Path(rel).name} looks like a real value; use a placeholder like <{key.lower()}>",
        _excerpt(line, [(start, start + len(match.group("value")))]))]
