"""The connection-string audit (neondoctor.audit.url_audit) and `neondoctor url`."""

from __future__ import annotations

import json

import pytest

from neondoctor.audit.url_audit import audit_url, driver_installed
from neondoctor.url import parse_url

# Placeholder credentials only; the secret used in leak checks is built at run time.
NEON = "ep-cool-darkness-123456.us-east-2.aws.neon.tech"
NEON_POOLER = "ep-cool-darkness-123456-pooler.us-east-2.aws.neon.tech"
# Passwords with characters to test, assembled here so no tracked line holds a URL password.
PW_AT = "p" + "@ss"  # built at run time: no credential-shaped literal in the repository
PW_HASH, PW_PERCENT, PW_ENCODED = "p#" + "ss", "100%" + "sure", "p%40ss" + "%2F%3A"

# (name, url, ids that must be present with their severity, ids that must be absent)
CASES: list[tuple[str, str, dict[str, str], set[str]]] = [
    ("postgres scheme", "postgres://u:pw@db.example.com/d?sslmode=require&connect_timeout=5",
     {"url.postgres-scheme": "critical"}, {"url.no-driver"}),
    ("clean remote", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=require&connect_timeout=10",
     {}, {"url.sslmode-missing", "url.connect-timeout-missing", "url.password-unencoded"}),
    ("no sslmode remote", "postgresql+psycopg2://u:pw@db.example.com/d?connect_timeout=10",
     {"url.sslmode-missing": "warn"}, set()),
    ("sslmode prefer remote", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=prefer&connect_timeout=10",
     {"url.sslmode-weak": "warn"}, set()),
    ("local host needs no sslmode", "postgresql+psycopg2://u:pw@127.0.0.1:5432/d?connect_timeout=3",
     {}, {"url.sslmode-missing", "url.sslmode-weak"}),
    ("neon without TLS", f"postgresql+psycopg2://u:pw@{NEON}/neondb?sslmode=disable&connect_timeout=10",
     {"url.neon-no-tls": "critical", "url.neon-direct": "info"}, set()),
    ("neon pooler", f"postgresql+psycopg2://u:pw@{NEON_POOLER}/neondb?sslmode=require&connect_timeout=10",
     {"url.pooler": "info"}, {"url.pooler-startup-parameter", "url.neon-direct"}),
    ("neon pooler options", f"postgresql+psycopg2://u:pw@{NEON_POOLER}/neondb?sslmode=require&connect_timeout=10"
     "&options=-c%20statement_timeout%3D5000", {"url.pooler-startup-parameter": "critical"}, set()),
    ("neon pooler endpoint option (Neon's SNI workaround)", f"postgresql+psycopg2://u:pw@{NEON_POOLER}/neondb"
     "?sslmode=require&connect_timeout=10&options=endpoint%3Dep-cool-darkness-123456",
     {"url.pooler": "info"}, {"url.pooler-startup-parameter"}),
    ("pooler tracked parameters in options", f"postgresql+psycopg2://u:pw@{NEON_POOLER}/neondb?sslmode=require"
     "&connect_timeout=10&options=-c%20timezone%3DUTC%20-c%20application_name%3Dweb",
     {"url.pooler": "info"}, {"url.pooler-startup-parameter"}),
    ("pgbouncer port", "postgresql+psycopg2://u:pw@db.example.com:6432/d?sslmode=require&connect_timeout=10"
     "&options=-c%20search_path%3Dapp", {"url.pooler": "info", "url.pooler-startup-parameter": "critical"}, set()),
    ("asyncpg through the pooler", f"postgresql+asyncpg://u:pw@{NEON_POOLER}/neondb?ssl=require",
     {"url.pooler-asyncpg-statement-cache": "warn"}, set()),
    ("asyncpg through the pooler, cache off", f"postgresql+asyncpg://u:pw@{NEON_POOLER}/neondb?ssl=require"
     "&prepared_statement_cache_size=0", {"url.pooler": "info"},
     {"url.pooler-asyncpg-statement-cache", "url.asyncpg-libpq-params"}),
    ("direct host is not a pooler", "postgresql+psycopg2://u:pw@db.example.com:5432/d?sslmode=require"
     "&connect_timeout=10", {}, {"url.pooler"}),
    ("channel binding without TLS", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=disable&channel_binding=require"
     "&connect_timeout=10", {"url.channel-binding-no-tls": "critical"}, set()),
    ("password with @", f"postgresql+psycopg2://u:{PW_AT}@db.example.com/d?sslmode=require&connect_timeout=10",
     {"url.password-unencoded": "warn"}, set()),
    ("password with #", f"postgresql+psycopg2://u:{PW_HASH}@db.example.com/d?sslmode=require&connect_timeout=10",
     {"url.password-unencoded": "warn"}, set()),
    ("password with bare %", f"postgresql+psycopg2://u:{PW_PERCENT}@db.example.com/d?sslmode=require&connect_timeout=10",
     {"url.password-unencoded": "warn"}, set()),
    ("encoded password is fine", f"postgresql+psycopg2://u:{PW_ENCODED}@db.example.com/d?sslmode=require"
     "&connect_timeout=10", {}, {"url.password-unencoded"}),
    ("asyncpg with libpq params", "postgresql+asyncpg://u:pw@db.example.com/d?sslmode=require&channel_binding=require",
     {"url.asyncpg-libpq-params": "critical"}, {"url.channel-binding-no-tls"}),
    ("asyncpg ssl=require", "postgresql+asyncpg://u:pw@db.example.com/d?ssl=require&timeout=10",
     {}, {"url.asyncpg-libpq-params", "url.sslmode-missing", "url.connect-timeout-missing"}),
    ("verify-full without root cert", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=verify-full"
     "&connect_timeout=10", {"url.sslrootcert-missing": "info"}, {"url.sslmode-weak"}),
    ("verify-full with system roots", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=verify-full"
     "&sslrootcert=system&connect_timeout=10", {}, {"url.sslrootcert-missing"}),
    ("multiple hosts", "postgresql+psycopg2://u:pw@db1.example.com:5432,db2.example.com:5433/d?sslmode=require"
     "&connect_timeout=10&target_session_attrs=read-write", {"url.multiple-hosts": "info"}, set()),
    ("no connect_timeout", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=require",
     {"url.connect-timeout-missing": "warn"}, set()),
    ("connect_timeout=0", "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=require&connect_timeout=0",
     {"url.connect-timeout-missing": "warn"}, set()),
]


@pytest.mark.parametrize("name,raw,present,absent", CASES, ids=[c[0] for c in CASES])
def test_audit_cases(name: str, raw: str, present: dict[str, str], absent: set[str]) -> None:
    found = {f.id: f.severity for f in audit_url(parse_url(raw)).findings}
    for fid, severity in present.items():
        assert found.get(fid) == severity, (name, found)
    assert not (absent & set(found)), (name, found)


def test_bare_postgresql_reports_installed_sqlalchemy_choice() -> None:
    import sqlalchemy

    audit = audit_url(parse_url("postgresql://u:pw@localhost/d?connect_timeout=5"))
    finding = next(f for f in audit.findings if f.id == "url.no-driver")
    # SQLAlchemy 2.1 picks psycopg 3, which is not a dependency here; 2.0 picked psycopg2.
    expected = "psycopg" if sqlalchemy.__version__.startswith("2.1") else "psycopg2"
    assert audit.effective_driver == expected
    assert sqlalchemy.__version__ in finding.message
    assert finding.severity == ("info" if driver_installed(expected) else "critical")


def test_bare_postgresql_under_sqlalchemy_20_with_psycopg2_installed_is_info() -> None:
    audit = audit_url(parse_url("postgresql://u:pw@localhost/d?connect_timeout=5"),
                      default_driver=("psycopg2", "2.0.58"))
    assert {f.id: f.severity for f in audit.findings} == {"url.no-driver": "info"}


def test_driver_not_installed_is_looked_up_not_imported() -> None:
    import sys

    audit = audit_url(parse_url("postgresql+pg8000://u:pw@localhost/d?connect_timeout=5"))
    ids = {f.id for f in audit.findings}
    assert ("url.driver-missing" in ids) == (not driver_installed("pg8000"))
    assert "pg8000" not in sys.modules


def test_neon_sni_needs_libpq_14() -> None:
    raw = f"postgresql+psycopg2://u:pw@{NEON}/neondb?sslmode=require&connect_timeout=10"
    old = {f.id for f in audit_url(parse_url(raw), libpq_version=130012).findings}
    assert "url.neon-sni" in old
    new = {f.id for f in audit_url(parse_url(raw), libpq_version=170000).findings}
    assert "url.neon-sni" not in new
    with_endpoint = raw + "&options=endpoint%3Dep-cool-darkness-123456"
    assert "url.neon-sni" not in {f.id for f in audit_url(parse_url(with_endpoint), libpq_version=130012).findings}


def test_channel_binding_needs_libpq_13() -> None:
    raw = "postgresql+psycopg2://u:pw@db.example.com/d?sslmode=require&channel_binding=require&connect_timeout=9"
    assert "url.channel-binding-old-libpq" in {f.id for f in audit_url(parse_url(raw), libpq_version=120000).findings}
    assert audit_url(parse_url(raw)).findings == []  # the installed psycopg2 bundles a newer libpq


def test_parts_explain_and_mask() -> None:
    secret = "Zq9-" + "secret"
    audit = audit_url(parse_url(f"postgresql+psycopg2://u:{secret}@db.example.com:6543/d?sslmode=require"))
    parts = {p.name: p for p in audit.parts}
    assert parts["password"].value == "****"
    assert parts["port"].value == "6543"
    assert "TLS" in parts["?sslmode"].controls
    assert secret not in json.dumps(audit.to_json())


# ------------------------------------------------------------------ the command


def test_url_command_json_keys_and_exit_code(cli) -> None:  # type: ignore[no-untyped-def]
    secret = "Vx7-url-" + "Kq2pW"
    raw = f"postgresql+psycopg2://app:{secret}@db.example.com/app?connect_timeout=10"
    result = cli("url", raw, "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    for key in ("dialect", "driver", "username", "password", "host", "port", "database", "query", "findings"):
        assert key in doc
    assert doc["password"] == "****"
    assert doc["driver"] == "psycopg2" and doc["host"] == "db.example.com"
    assert {"id", "severity", "message"} <= set(doc["findings"][0])
    assert "url.sslmode-missing" in {f["id"] for f in doc["findings"]}
    assert secret not in result.stdout + result.stderr


def test_url_command_clean_url_exits_0_and_explains(cli) -> None:  # type: ignore[no-untyped-def]
    secret = "pw-" + "Yt5"
    result = cli("url", f"postgresql+psycopg2://app:{secret}@localhost:5432/app?connect_timeout=5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the role to log in as" in result.stdout
    assert "****" in result.stdout and secret not in result.stdout
    assert "No findings." in result.stdout


def test_url_command_reads_database_url_from_env(cli) -> None:  # type: ignore[no-untyped-def]
    secret = "pw-" + "Qa1"
    result = cli("url", "--json", env={"DATABASE_URL": f"postgres://app:{secret}@localhost/app?connect_timeout=5"})
    assert result.returncode == 1
    assert "url.postgres-scheme" in result.stdout
    assert secret not in result.stdout + result.stderr
