"""`neondoctor url`: parse the URL, audit it (neondoctor.audit.url_audit), render, exit."""

from __future__ import annotations

import click

from neondoctor.cli import common_options, state
from neondoctor.cli.output import emit


@click.command()
@click.argument("database_url", required=False, metavar="[URL]")
@click.option("--json", "as_json", is_flag=True, help="Print the parts and findings as JSON.")
@click.option("--python", "python", metavar="PATH", default=None,
              help="The app's interpreter (or virtualenv): its drivers, libpq and SQLAlchemy are checked "
                   "(default: VIRTUAL_ENV, then ./.venv, else neondoctor's own).")
@common_options
def url(database_url: str | None, as_json: bool, python: str | None) -> None:
    """Audit a connection string: each part, what it controls, and what is wrong with it.

    URL defaults to DATABASE_URL (environment or .env). Nothing is connected to. The driver is
    checked in the app's interpreter: --python, else VIRTUAL_ENV, else ./.venv, else neondoctor's own
    (a small bounded script run there); the output says which.
    Exit 0 when there is nothing worse than info, 1 on any warning or critical finding,
    2 when the URL cannot be parsed.

    Example: neondoctor url 'postgresql+psycopg2://app:<password>@db.example.com/app?sslmode=require'
    """
    from neondoctor.appenv import app_env
    from neondoctor.audit.url_audit import audit_url
    from neondoctor.render.url import to_json, to_text
    from neondoctor.settings import register_url_secret
    from neondoctor.url import parse_url

    if database_url is None:
        database_url = state().database_url().url
    else:
        register_url_secret(database_url)
    parsed = parse_url(database_url)
    report = audit_url(parsed, env=app_env(python))
    emit(report, to_text, to_json, as_json=as_json, exit_code=report.exit_code)
