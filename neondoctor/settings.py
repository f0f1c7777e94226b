"""DATABASE_URL from the environment or a `.env` file. Never hard-coded, never defaulted."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from neondoctor.errors import ConfigError
from neondoctor.redaction import register_secret

ENV_VAR = "DATABASE_URL"


@dataclass(frozen=True)
class DatabaseSetting:
    url: str
    source: str  # "environment" or the path of the .env file it came from


def find_env_file(start: Path | None = None) -> Path | None:
    """The nearest `.env` from the working directory upward (what python-dotenv's usecwd does)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / ".env"
        if candidate.is_file():
            return candidate
    return None


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a .env file strictly: an unreadable file or a line dotenv cannot parse is an error."""
    from dotenv.parser import parse_stream

    from neondoctor.inputs import read_text_file

    try:  # a FIFO, a device or a huge file is refused before it is read (see inputs.py)
        text = read_text_file(path, "env file")
    except UnicodeDecodeError:
        raise ConfigError(f"env file {path} cannot be read: not UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"env file {path} cannot be read: {exc.strerror or exc}") from None

    import io

    values: dict[str, str] = {}
    bad: list[int] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            bad.append(binding.original.line)
        elif binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    if bad:
        lines = ", ".join(str(n) for n in bad[:5])
        raise ConfigError(f"env file {path} is malformed: cannot parse line {lines}")
    for key, value in values.items():
        if "PASSWORD" in key.upper():
            register_secret(value)
    return values


def load_database_url(env_file: str | Path | None = None, *, required: bool = True) -> DatabaseSetting | None:
    """DATABASE_URL from the environment, else from `env_file` or the nearest `.env`.

    An explicit `--env-file` must exist. The password of the URL is registered for redaction
    before the URL goes anywhere else.
    """
    explicit = Path(env_file) if env_file else None
    file_values: dict[str, str] = {}
    path = explicit or find_env_file()
    if path is not None:
        file_values = read_env_file(path)

    if explicit is not None and ENV_VAR in file_values:
        setting = DatabaseSetting(file_values[ENV_VAR], str(explicit))
    elif os.environ.get(ENV_VAR, "").strip():
        setting = DatabaseSetting(os.environ[ENV_VAR], "environment")
    elif ENV_VAR in file_values and file_values[ENV_VAR].strip():
        setting = DatabaseSetting(file_values[ENV_VAR], str(path))
    else:
        if not required:
            return None
        where = f"{path}" if path else "no .env file found from the working directory upward"
        if ENV_VAR in os.environ or ENV_VAR in file_values:
            raise ConfigError(f"{ENV_VAR} is empty (environment; .env: {where})")
        raise ConfigError(
            f"{ENV_VAR} is not set: export it or put it in a .env file ({where}); "
            "see .env.example"
        )
    register_url_secret(setting.url)
    return setting


def register_url_secret(url: str) -> None:
    """Register the password of a URL (userinfo and `?password=`) or key=value DSN, parsed leniently."""
    from urllib.parse import unquote, urlsplit

    from neondoctor.url import register_query_secrets

    try:
        parts = urlsplit(url.strip())
        if parts.password:
            register_secret(parts.password)
            register_secret(unquote(parts.password))
    except ValueError:
        pass
    # The userinfo may not parse (unbalanced brackets, stray @); take what sits between ':' and '@'.
    head, sep, _ = url.rpartition("@")
    if sep and "://" in head:
        userinfo = head.split("://", 1)[1]
        if ":" in userinfo:
            secret = userinfo.split(":", 1)[1]
            register_secret(secret)
            register_secret(unquote(secret))
    register_query_secrets(url.strip())
    for match in _DSN_PASSWORD.finditer(url if "://" not in url else ""):
        register_secret(match.group("q") or match.group("bare"))


# password='...' or password=... in a libpq key=value DSN.
_DSN_PASSWORD = re.compile(r"(?i)(?<!\w)password\s*=\s*(?:'(?P<q>(?:\\.|[^'\\])*)'|(?P<bare>\S+))")
