"""Audit a git repository for committed database credentials (what `neondoctor secrets` reports).

Checks: `.env` is ignored by `.gitignore`; no `.env` file is tracked; no tracked file holds a
connection string (URL userinfo, key=value DSN, PGPASSWORD=) with a real-looking password;
`.env.example` holds placeholders only. Findings carry file:line and a masked excerpt: the
password itself is never part of a finding.

A line containing `neondoctor: allow-secret` is skipped (for deliberate test fixtures).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from neondoctor.errors import ConfigError
from neondoctor.findings import SEVERITIES
from neondoctor.redaction import MASK, redact

ALLOW_MARKER = "neondoctor: allow-secret"
EXAMPLE_NAMES = (".env.example", ".env.sample", ".env.template", ".env.dist")
MAX_FILE_BYTES = 2_000_000
_GIT_TIMEOUT = 30

# scheme://user:password@  (user may be empty: redis://:pw@host)
_URL_SECRET = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,40}://[^:/?#@\s'\"<>`]{0,256}:(?P<secret>[^@\s'\"`]{1,512})@")
MIN_SECRET_LENGTH = 4  # shorter values in a URL are examples ("u:pw@"), not credentials worth a finding
# password=... in a key=value DSN: no spaces around '=', and a neighbouring key=value token separated
# by whitespace only (so `f(user=u, password=pw)` in code is not taken for a DSN).
_DSN_SECRET = re.compile(r"(?i)\bpassword=(?P<q>['\"]?)(?P<secret>[^\s'\";,&`)]{1,512})")
_DSN_BEFORE = re.compile(r"\b[A-Za-z_]+=[^\s,()=]+\s+$")
_DSN_AFTER = re.compile(r"^['\"]?\s+[A-Za-z_]+=[^\s,()]")
_CODE_EXPRESSION = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_PGPASSWORD = re.compile(r"(?i)\bPGPASSWORD[=:](?P<q>['\"]?)(?P<secret>[^\s'\";,&`)]{1,512})")
# KEY=value lines in .env.example whose key names a secret.
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key)")

PLACEHOLDER_WORDS = {
    "password", "passwd", "pass", "pwd", "pw", "secret", "changeme", "change_me", "change-me", "example",
    "placeholder", "redacted", "dummy", "fake", "xxx", "none", "null", "mypassword", "yourpassword",
    "your_password", "your-password", "<password>", "todo", "fixme",
}
PLACEHOLDER_PARTS = ("example", "placeholder", "changeme", "change_me", "your", "redacted", "dummy", "<", "${",
                     "$(", "{{", "%(", "****")


def is_placeholder(secret: str) -> bool:
    """True for values that are obviously not a real credential (<password>, ${DB_PASSWORD}, ****)."""
    value = unquote(secret.strip().strip("'\""))
    low = value.lower()
    if len(value) < MIN_SECRET_LENGTH or low in PLACEHOLDER_WORDS:
        return True
    if any(part in low for part in PLACEHOLDER_PARTS):
        return True
    if re.fullmatch(r"[*x.]+|\$\w+|\{[^{}]*\}|%s|\?", low):  # masks, $VAR, {pw} format fields, %s
        return True
    # An f-string or .format() field means the value is built at run time.
    return "{" in value


@dataclass(frozen=True)
class SecretFinding:
    id: str
    severity: str
    path: str  # relative to the repository root
    line: int | None
    message: str
    excerpt: str | None = None  # the line with the secret masked

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "file": self.path, "line": self.line,
                "message": self.message, "excerpt": self.excerpt}


@dataclass
class SecretsReport:
    root: Path
    files_scanned: int
    findings: list[SecretFinding]

    def to_json(self) -> dict[str, Any]:
        return {"repository": str(self.root), "files_scanned": self.files_scanned,
                "findings": [f.to_dict() for f in self.findings]}


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


def tracked_files(root: Path) -> list[str]:
    out = _git(root, "ls-files", "-z").stdout
    return [p for p in out.split("\0") if p]


def _is_env_file(rel: str) -> bool:
    name = Path(rel).name
    return name == ".env" or (name.startswith(".env.") and name not in EXAMPLE_NAMES)


def _mask_line(line: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        line = line[:start] + MASK + line[end:]
    text = redact(line.strip())
    return text if len(text) <= 160 else text[:157] + "..."


def scan_text(text: str) -> list[tuple[int, str, list[tuple[int, int]]]]:
    """(line number, kind, secret spans) for every line holding a real-looking credential."""
    hits: list[tuple[int, str, list[tuple[int, int]]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARKER in line or len(line) > 4000:
            continue
        spans: list[tuple[int, int]] = []
        kind = ""
        for match in _URL_SECRET.finditer(line):
            if not is_placeholder(match.group("secret")):
                spans.append(match.span("secret"))
                kind = kind or "connection URL"
        for match in _DSN_SECRET.finditer(line):
            in_dsn = _DSN_BEFORE.search(line[:match.start()]) or _DSN_AFTER.match(line[match.end():])
            if in_dsn and not is_placeholder(match.group("secret")):
                spans.append(match.span("secret"))
                kind = kind or "key=value DSN"
        for match in _PGPASSWORD.finditer(line):
            # PGPASSWORD=cfg.db_password in code is an expression that reads a secret, not one.
            if not match.group("q") and _CODE_EXPRESSION.fullmatch(match.group("secret")):
                continue
            if not is_placeholder(match.group("secret")):
                spans.append(match.span("secret"))
                kind = kind or "PGPASSWORD"
        if spans:
            hits.append((number, kind, spans))
    return hits


def _read(root: Path, rel: str) -> str | None:
    path = root / rel
    try:
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def audit_repository(path: str | Path | None = None) -> SecretsReport:
    root = repo_root(path)
    files = tracked_files(root)
    findings: list[SecretFinding] = []

    # 1. .env is ignored (--no-index: a tracked .env must still match a .gitignore rule).
    ignored = _git(root, "check-ignore", "-q", "--no-index", ".env", check=False).returncode == 0
    if not ignored:
        findings.append(SecretFinding("secrets.env-not-ignored", "warn", ".gitignore", None,
                                      ".env is not ignored by git: add a line `.env` to .gitignore"))

    # 2. no .env is tracked.
    for rel in files:
        if _is_env_file(rel):
            findings.append(SecretFinding(
                "secrets.env-tracked", "critical", rel, None,
                f"{rel} is tracked by git: `git rm --cached {rel}`, keep it ignored, and rotate any "
                "password it ever held (it stays in the history)"))

    # 3. tracked files with credentials; 4. example files with placeholders only.
    for rel in files:
        text = _read(root, rel)
        if text is None:
            continue
        is_example = Path(rel).name in EXAMPLE_NAMES
        lines = text.splitlines()
        for number, kind, spans in scan_text(text):
            fid = "secrets.example-not-placeholder" if is_example else "secrets.credential-in-file"
            what = f"{Path(rel).name} must hold placeholders only" if is_example else "a tracked file holds"
            findings.append(SecretFinding(
                fid, "critical", rel, number,
                f"{what} a {kind} with a real-looking password; use a placeholder like <password> or "
                "${DB_PASSWORD} and rotate the password",
                _mask_line(lines[number - 1], spans)))
        if is_example:
            findings.extend(_example_secret_keys(rel, lines))

    findings.sort(key=lambda f: (f.path, f.line or 0, f.id))
    return SecretsReport(root=root, files_scanned=len(files), findings=findings)


def _example_secret_keys(rel: str, lines: list[str]) -> list[SecretFinding]:
    out: list[SecretFinding] = []
    for number, line in enumerate(lines, start=1):
        match = _ENV_LINE.match(line)
        if not match or line.lstrip().startswith("#") or ALLOW_MARKER in line:
            continue
        key, value = match.group("key"), match.group("value").strip("'\"")
        if "://" in value or not _SECRET_KEY.search(key) or not value or is_placeholder(value):
            continue
        start = line.find(match.group("value"))
        out.append(SecretFinding(
            "secrets.example-not-placeholder", "critical", rel, number,
            f"{key} in {Path(rel).name} looks like a real value; use a placeholder like <{key.lower()}>",
            _mask_line(line, [(start, start + len(match.group("value")))])))
    return out
