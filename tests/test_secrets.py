"""`neondoctor secrets` on real git repositories made in tmp_path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from neondoctor.audit.secrets import audit_repository, is_placeholder

# Built at run time so no real-looking DSN password sits in a tracked file of this repository.
SECRET = "Hj4" + "-wq9ZrT" + "!x2"
ENC = quote(SECRET, safe="")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=30)


def make_repo(tmp_path: Path, files: dict[str, str], *, commit: bool = True) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "dev")
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # -f: add even what .gitignore excludes (how a .env gets committed by accident)
    _git(repo, "add", "-f", *files)
    if commit:
        _git(repo, "commit", "-qm", "init")
    return repo


CLEAN = {
    ".gitignore": ".env\n__pycache__/\n",
    ".env.example": "DATABASE_URL=postgresql+psycopg2://app:<password>@ep-x.neon.tech/app?sslmode=require\n"
                    "DB_PASSWORD=\nAPI_TOKEN=changeme\n",
    "app/settings.py": "import os\nURL = os.environ['DATABASE_URL']\n"
                       "DOC = 'postgresql://user:${DB_PASSWORD}@host/db'\n"
                       "FMT = f'postgresql://{user}:{password}@{host}/db'\n",
    "README.md": "Set DATABASE_URL=postgresql+psycopg2://user:****@host/db\n",
}


def _ids(repo: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in audit_repository(repo).findings:
        out.setdefault(f.id, []).append(f.location)
    return out


def test_clean_repo(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path, CLEAN)
    assert _ids(repo) == {}
    result = cli("secrets", "--repo", str(repo))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout


def test_tracked_env_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files[".env"] = f"DATABASE_URL=postgresql+psycopg2://app:{ENC}@db.example.com/app\n"
    repo = make_repo(tmp_path, files)
    ids = _ids(repo)
    assert ids["secrets.env-tracked"] == [".env"]
    assert ids["secrets.credential-in-file"] == [".env:1"]
    result = cli("secrets", cwd=repo)  # the repository containing the working directory
    assert result.returncode == 1
    assert ".env:1" in result.stdout and "git rm --cached .env" in result.stdout
    assert SECRET not in result.stdout + result.stderr and ENC not in result.stdout + result.stderr


def test_missing_gitignore_entry(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files[".gitignore"] = "__pycache__/\n"
    repo = make_repo(tmp_path, files)
    assert _ids(repo) == {"secrets.env-not-ignored": [".gitignore"]}
    result = cli("secrets", "--repo", str(repo), "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert [f["id"] for f in doc["findings"]] == ["secrets.env-not-ignored"]


def test_gitignore_in_subdirectory_does_not_cover_root_env(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files[".gitignore"] = "__pycache__/\n"
    files["app/.gitignore"] = ".env\n"
    repo = make_repo(tmp_path, files)
    assert "secrets.env-not-ignored" in _ids(repo)


@pytest.mark.parametrize("line", [
    f'engine = create_engine("postgresql+psycopg2://app:{SECRET}@db.example.com:5432/app")',
    f"DSN = 'host=db.example.com dbname=app user=app password={SECRET}'",
    f"export PGPASSWORD={SECRET}",
    f"url: postgres://app:{ENC}@ep-cool-123.us-east-2.aws.neon.tech/neondb",
])
def test_credential_in_tracked_file(tmp_path: Path, cli, line: str) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files["app/db.py"] = "import os\n\n" + line + "\n"
    repo = make_repo(tmp_path, files)
    assert _ids(repo) == {"secrets.credential-in-file": ["app/db.py:3"]}
    result = cli("secrets", "--repo", str(repo))
    assert result.returncode == 1
    assert "app/db.py:3" in result.stdout and "****" in result.stdout
    assert SECRET not in result.stdout + result.stderr and ENC not in result.stdout + result.stderr


def test_staged_but_uncommitted_file_is_checked(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files["config.yml"] = f"database: postgresql://app:{SECRET}@db.example.com/app\n"
    repo = make_repo(tmp_path, files, commit=False)  # what a pre-commit hook sees
    assert _ids(repo) == {"secrets.credential-in-file": ["config.yml:1"]}


def test_untracked_file_is_not_checked(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, CLEAN)
    (repo / ".env").write_text(f"DATABASE_URL=postgresql://app:{SECRET}@db.example.com/app\n")
    assert _ids(repo) == {}  # ignored and untracked: exactly where it belongs


def test_env_example_with_real_values(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files[".env.example"] = (f"DATABASE_URL=postgresql+psycopg2://app:{SECRET}@db.example.com/app\n"
                             f"DB_PASSWORD={SECRET}\nLOG_LEVEL=info\n")
    repo = make_repo(tmp_path, files)
    assert _ids(repo) == {"secrets.example-not-placeholder": [".env.example:1", ".env.example:2"]}
    result = cli("secrets", "--repo", str(repo))
    assert result.returncode == 1
    assert "placeholders only" in result.stdout
    assert SECRET not in result.stdout + result.stderr


def test_allow_marker_skips_a_line(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files["tests/fixture.py"] = f"URL = 'postgresql://app:{SECRET}@localhost/app'  # neondoctor: allow-secret\n"
    repo = make_repo(tmp_path, files)
    assert _ids(repo) == {}


def test_not_a_git_repository(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain"
    plain.mkdir()
    result = cli("secrets", "--repo", str(plain))
    assert result.returncode == 2
    assert "not inside a git repository" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value,expected", [
    ("<password>", True), ("${DB_PASSWORD}", True), ("****", True), ("password", True), ("changeme", True),
    ("example", True), ("{password}", True), ("$PGPASS", True), ("my-example-pw", True),
    (SECRET, False), ("s3cr3t-Prod-2024", False), ("hunter2hunter2", False),
])
def test_placeholder_detection(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected


@pytest.mark.parametrize("line", [
    "conn = psycopg2.connect(host=h, user=role, password=role_password)",
    "password = self.state.app_password if user == SUPERUSER else other",
    "url = lab.url(user=role, password=secret_value, query={})",
    "Masks `PGPASSWORD=` and driver error texts",
    'WRONG_PASSWORD = "Wr0ng-" + suffix',  # code: an assignment, read as such
    "db_password: ${POSTGRES_PASSWORD:-}",
])
def test_code_is_not_taken_for_a_credential(line: str) -> None:
    from neondoctor.audit.secrets import scan_text

    assert scan_text(line) == []


def test_pgpassword_read_from_an_attribute_is_not_a_secret() -> None:
    from neondoctor.audit.secrets import scan_text

    assert scan_text("env = dict(PGPASSWORD=cluster.state.app_password)") == []
    assert scan_text("PGPASSWORD=" + "s3cretValue9 psql -h db") != []


# ------------------------------------------------------------------ hostile repositories (index, history)

B64_URL = __import__("base64").b64encode(f"postgresql://app:{SECRET}@db.example.com/app".encode()).decode()


@pytest.mark.parametrize("name,line", [
    ("query", f"url = 'postgresql://app@db.example.com/app?sslmode=require&password={ENC}'"),
    ("jdbc", f"spring.datasource.url=jdbc:postgresql://db:5432/app?user=app&password={ENC}"),
    ("sslpassword", f"DSN=postgresql://app@db/app?sslpassword={ENC}"),
    ("compose", f"      POSTGRES_PASSWORD: {ENC}"),
    ("compose-list", f"      - POSTGRES_PASSWORD={ENC}"),
    ("env-style", f"DB_PASSWORD='{SECRET}'"),
    ("base64", f"  DATABASE_URL: {B64_URL}"),
])
def test_more_credential_shapes(tmp_path: Path, cli, name: str, line: str) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files["deploy/config.txt"] = "# config\n" + line + "\n"
    repo = make_repo(tmp_path, files)
    assert _ids(repo) == {"secrets.credential-in-file": ["deploy/config.txt:2"]}, name
    result = cli("secrets", "--repo", str(repo), "--json")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert SECRET not in out and ENC not in out and B64_URL not in out


def test_big_file_and_long_line_are_scanned(tmp_path: Path) -> None:
    notebook_line = '{"cells": [{"source": "' + "x" * 300_000 + f' postgresql://app:{SECRET}@db.example.com/app"' + "}]}"
    files = dict(CLEAN)
    files["big.log"] = "INFO nothing to see\n" * 150_000 + f"url=postgresql://app:{SECRET}@db.example.com/app\n"
    files["analysis.ipynb"] = notebook_line + "\n"
    repo = make_repo(tmp_path, files)
    assert (repo / "big.log").stat().st_size > 2_000_000
    report = audit_repository(repo)
    where = sorted(f.location for f in report.findings)
    assert where == ["analysis.ipynb:1", "big.log:150001"]
    for f in report.findings:
        assert SECRET not in (f.excerpt or "") and len(f.excerpt or "") <= 160


def test_utf16_file_is_scanned(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, CLEAN)
    (repo / "win.config").write_bytes(f"conn=postgresql://app:{SECRET}@db.example.com/app\r\n".encode("utf-16"))
    _git(repo, "add", "win.config")
    assert _ids(repo) == {"secrets.credential-in-file": ["win.config:1"]}


def test_the_index_is_read_not_the_working_tree(tmp_path: Path) -> None:
    files = dict(CLEAN)
    files["app/db.py"] = f"URL = 'postgresql://app:{SECRET}@db.example.com/app'\n"
    repo = make_repo(tmp_path, files, commit=False)
    (repo / "app/db.py").write_text("URL = os.environ['DATABASE_URL']\n")  # cleaned, never re-staged
    assert _ids(repo) == {"secrets.credential-in-file": ["app/db.py:1"]}
    _git(repo, "add", "app/db.py")  # the clean version staged: now the commit would be clean
    assert _ids(repo) == {}


def test_a_tracked_symlink_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(f"postgresql://app:{SECRET}@db.example.com/app\n")
    repo = make_repo(tmp_path, CLEAN)
    (repo / "link.txt").symlink_to(outside)
    _git(repo, "add", "link.txt")
    assert _ids(repo) == {}


def test_history_finds_a_removed_secret_once(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    files = dict(CLEAN)
    files["app/db.py"] = f"URL = 'postgresql://app:{SECRET}@db.example.com/app'\n"
    repo = make_repo(tmp_path, files)
    introduced = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    (repo / "app/db.py").write_text("URL = os.environ['DATABASE_URL']\n")
    (repo / "app/other.py").write_text(f"X = 1\nURL = 'postgresql://app:{SECRET}@db.example.com/app'\n")
    (repo / "app/copy.py").write_text(f"URL = 'postgresql://app:{SECRET}@db.example.com/app'\n")  # same blob
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "move")
    (repo / "app/copy.py").unlink()
    (repo / "app/other.py").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "clean")
    assert _ids(repo) == {}  # the index is clean
    history = [f for f in audit_repository(repo, history=True).findings]
    assert [(f.path, f.line, f.commit) for f in history if f.path == "app/db.py"] == [("app/db.py", 1, introduced)]
    assert sorted(f.location.split(" ")[0] for f in history) == ["app/db.py:1", "app/other.py:2"]  # blobs once
    result = cli("secrets", "--repo", str(repo), "--history", "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert {f["commit"] for f in doc["findings"]} >= {introduced}
    assert SECRET not in result.stdout + result.stderr
    clean = cli("secrets", "--repo", str(repo))
    assert clean.returncode == 0, clean.stdout


def test_this_repository_is_clean() -> None:
    """No false positive on a real code base full of credential-shaped test code (ours)."""
    from conftest import REPO

    report = audit_repository(REPO)
    assert report.findings == [], [f.location for f in report.findings]
