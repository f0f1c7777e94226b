"""What a lab keeps on disk, and how its URLs are spelled.

`lab.json` describes the cluster and holds no password; the passwords live only in the 0600 `.env`,
inside the URLs it names as Neon's integrations do (DATABASE_URL, DATABASE_URL_UNPOOLED when there
is a pooler, and NEONDOCTOR_LAB_SUPERUSER_URL). `lab.json` is written last: it marks the lab complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from neondoctor.errors import LabError
from neondoctor.lab.owned import Manifest

SUPERUSER = "postgres"
APP_USER = "app"
APP_DATABASE = "neondoctor_lab"
STATE_FILE = "lab.json"
ENV_FILE = ".env"
ENV_SUPERUSER = "NEONDOCTOR_LAB_SUPERUSER_URL"
ENV_UNPOOLED = "DATABASE_URL_UNPOOLED"
_ENV_HEADER = "# neondoctor lab"
_SECRET_FIELDS = ("superuser_password", "app_password")


@dataclass
class LabState:
    install_bindir: str
    version: str
    major: int
    data_dir: str
    port: int
    spec: dict[str, Any]
    server_user: str | None
    # Kept only in the 0600 .env (DATABASE_URL and NEONDOCTOR_LAB_SUPERUSER_URL), never in lab.json.
    superuser_password: str = ""
    app_password: str = ""

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in _SECRET_FIELDS}

    def password_of(self, user: str) -> str:
        return self.superuser_password if user == SUPERUSER else self.app_password


def read_state(root: Path) -> LabState | None:
    """The lab in `root` as lab.json describes it (passwords still empty); None when there is none."""
    path = root / STATE_FILE
    if not path.exists():
        return None
    try:
        return LabState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise LabError(f"lab state {path} is unreadable ({type(exc).__name__}); "
                       f"`neondoctor lab down --dir {root}` removes it") from None


def default_root() -> Path:
    if env := os.environ.get("NEONDOCTOR_LAB_DIR"):
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "neondoctor" / "lab"


def make_url(
    *,
    user: str,
    password: str | None,
    host: str = "127.0.0.1",
    port: int,
    database: str,
    driver: str | None = "psycopg2",
    query: dict[str, str] | None = None,
) -> str:
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    netloc = f"[{host}]" if ":" in host else host
    q = f"?{urlencode(query)}" if query else ""
    return f"{scheme}://{auth}@{netloc}:{port}/{quote(database, safe='')}{q}"


def env_text(root: Path, *, app_url: str, superuser_url: str, pooled_url: str | None) -> str:
    """The lab's .env: with a pooler, DATABASE_URL is pooled and DATABASE_URL_UNPOOLED direct."""
    if pooled_url is not None:
        urls = f"DATABASE_URL={pooled_url}\n{ENV_UNPOOLED}={app_url}\n"
    else:
        urls = f"DATABASE_URL={app_url}\n"
    return f"{_ENV_HEADER} ({root}); throwaway credentials, mode 0600\n{urls}{ENV_SUPERUSER}={superuser_url}\n"


def recover_passwords(root: Path, state: LabState) -> None:
    """Fill in the passwords lab.json leaves out, from the URLs in the lab's .env."""
    env = _read_env(root / ENV_FILE)
    if not state.app_password:
        state.app_password = _password_of(env.get(ENV_UNPOOLED) or env.get("DATABASE_URL"))
    if not state.superuser_password:
        state.superuser_password = _password_of(env.get(ENV_SUPERUSER))


def _read_env(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _password_of(url: str | None) -> str:
    if not url:
        return ""
    return unquote(urlsplit(url).password or "")


def adopt_legacy(root: Path, state: LabState) -> Manifest:
    """A lab made before the marker existed: it owns lab.json, its data and a .env it wrote itself."""
    paths = [state.data_dir, str(root / STATE_FILE)]
    try:
        if (root / ENV_FILE).read_text().startswith(_ENV_HEADER):
            paths.append(str(root / ENV_FILE))
    except OSError:
        pass
    manifest = Manifest(root, created_root=False, paths=paths)
    manifest.save()
    return manifest
