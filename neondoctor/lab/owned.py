"""The lab touches only its own files: a manifest of what it created, and checks on the server process.

`lab up --dir D` writes into D only when D is new, empty, or already a lab directory (it holds the
marker file). The marker is the manifest: every file or directory the lab creates is recorded in it
*before* it is created (exclusively: an existing file is never overwritten), and `lab down` removes
exactly what is listed, then D itself only if the lab created it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from pathlib import Path

from neondoctor.errors import LabError

MARKER = ".neondoctor-lab"


class Manifest:
    """What the lab created under `root` (and elsewhere, e.g. its data directory under /tmp as root)."""

    def __init__(self, root: Path, created_root: bool, paths: list[str]) -> None:
        self.root = root
        self.created_root = created_root
        self.paths = paths

    @property
    def path(self) -> Path:
        return self.root / MARKER

    @classmethod
    def read(cls, root: Path) -> Manifest | None:
        try:
            data = json.loads((root / MARKER).read_text())
            return cls(root, bool(data["created_root"]), [str(p) for p in data["paths"]])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LabError(f"lab marker {root / MARKER} is unreadable ({type(exc).__name__}): "
                           f"remove what you no longer need in {root} by hand") from None

    @classmethod
    def claim(cls, root: Path) -> Manifest:
        """Make `root` a lab directory, or refuse: never take over a directory holding other files."""
        if root.is_symlink() or (root.exists() and not root.is_dir()):
            raise LabError(f"{root} exists and is not a directory: choose another --dir")
        if root.exists():
            existing = sorted(p.name for p in root.iterdir())
            if existing:
                raise LabError(
                    f"{root} is not a neondoctor lab directory (no {MARKER}) and is not empty "
                    f"(holds {', '.join(existing[:3])}{', ...' if len(existing) > 3 else ''}); the lab never "
                    "writes into a directory with files it did not create: choose a new or empty --dir")
            created = False
        else:
            root.mkdir(parents=True, mode=0o700)
            created = True
        manifest = cls(root, created, [])
        try:
            fd = os.open(manifest.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise LabError(f"another `lab up` is creating a lab in {root}") from None
        os.close(fd)
        manifest.save()
        return manifest

    def save(self) -> None:
        tmp = self.root / f"{MARKER}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"created_root": self.created_root, "paths": self.paths}, fh, indent=2)
        os.replace(tmp, self.path)

    def record(self, path: Path) -> None:
        """Note `path` as the lab's own, before it is created (a crash then leaves no stranger behind)."""
        if str(path) not in self.paths:
            self.paths.append(str(path))
            self.save()

    def owns(self, path: Path) -> bool:
        return str(path) in self.paths

    def write(self, path: Path, text: str) -> None:
        """Write a 0600 file of the lab's own: created exclusively the first time, rewritten after."""
        if self.owns(path) and path.exists():
            flags = os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW
        else:
            self.record(path)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise LabError(f"{path} already exists and was not written by the lab: it is left alone") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    def remove_all(self) -> None:
        """Remove exactly what the lab recorded, then the marker, then the directory if the lab made it."""
        for entry in reversed(self.paths):
            path = Path(entry)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self.path.unlink(missing_ok=True)
        if self.created_root:
            with contextlib.suppress(OSError):
                self.root.rmdir()  # only when empty: a file someone added since is kept


# ---------------------------------------------------------------- is the server really there?


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def is_postmaster(pid: int) -> bool:
    """The process exists, is not a zombie, and (where /proc tells) is a postgres server."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            state = stat[stat.rindex(")") + 2:].split()[0]
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return False
        return state not in ("Z", "X") and (b"postgres" in cmdline or b"postmaster" in cmdline)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def accepts(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False
