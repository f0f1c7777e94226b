"""Import the user's `MODULE:ATTR` (an engine, a declarative Base): the one place user code runs.

User code can do anything at import time, and none of it may decide a verdict:

* `sys.exit(n)` (any n) or any exception -> ConfigError naming the module (exit 2), never a pass;
* a module that never finishes importing -> ConfigError after `timeout` seconds (at least
  MIN_IMPORT_S: importing an app is CPU work that a busy CI runner slows down, unlike a network
  step, and a gate that fails because the runner was busy is noise). The import runs in a
  daemon thread; a thread that is still stuck (or a non-daemon thread the module started) cannot
  keep the process alive, because the CLI leaves with `os._exit` once user code has run
  (`user_code_ran()`);
* Ctrl-C still interrupts: it is delivered to the main thread, which only waits;
* anything it prints goes to stderr (stdout holds the report), redacted like every other byte.

A module that holds the interpreter lock in C code forever (a pathological regex at import time)
cannot be preempted by Python; `faulthandler` then ends the process at `timeout + GRACE` seconds
(exit 1, never 0).
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neondoctor.errors import ConfigError
from neondoctor.redaction import redact

GRACE = 5.0  # seconds after the deadline before the last-resort faulthandler exit
MIN_IMPORT_S = 10.0
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ran = threading.Event()
_devnull: Any = None


def user_code_ran() -> bool:
    """True once a user module was imported (or attempted) in this process."""
    return _ran.is_set()


def split_ref(ref: str, what: str, example: str) -> tuple[str, str]:
    if not _REF.match(ref):
        raise ConfigError(f"{what} {ref!r}: expected MODULE:ATTR, e.g. {example}")
    module, _, attr = ref.partition(":")
    return module, attr


def load_object(
    ref: str,
    *,
    what: str,
    timeout: float,
    cwd: str | Path | None = None,
    example: str = "myapp.db:engine",
    finish: Callable[[Any], Any] | None = None,
) -> Any:
    """Import `ref` ("pkg.module:attr.sub") with `cwd` (default: the working directory) importable.

    `finish(obj)`, when given, runs in the same bounded thread: turning the object into what the
    caller needs may run user code too (a factory call, a property). Every failure is a ConfigError
    that starts with `what` and names the module.
    """
    module_name, attr = split_ref(ref, what, example)
    timeout = max(timeout, MIN_IMPORT_S)
    path = str(cwd or os.getcwd())
    if path not in sys.path:
        sys.path.insert(0, path)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            obj: Any = importlib.import_module(module_name)
        except BaseException as exc:  # SystemExit included: user code never ends the command
            outcome["error"] = f"cannot import {module_name!r}: {_describe(exc)}"
            return
        try:
            for part in attr.split("."):
                if not hasattr(obj, part):
                    outcome["error"] = f"module {module_name!r} has no attribute {attr!r}"
                    return
                obj = getattr(obj, part)
            outcome["value"] = finish(obj) if finish else obj
        except ConfigError as exc:
            outcome["error"] = exc.message
        except BaseException as exc:
            outcome["error"] = f"{attr!r} of {module_name!r} failed: {_describe(exc)}"

    _ran.set()
    worker = threading.Thread(target=target, name=f"neondoctor-import-{module_name}", daemon=True)
    _arm_last_resort(timeout + GRACE)
    saved_stdout = sys.stdout
    sys.stdout = sys.stderr  # what the module prints must not mix into a report (--json) on stdout
    try:
        worker.start()
        worker.join(timeout)
    finally:
        sys.stdout = saved_stdout
        faulthandler.cancel_dump_traceback_later()
    if worker.is_alive():
        raise ConfigError(f"{what} {ref!r}: importing {module_name!r} did not finish within {timeout:g}s "
                          "(does it connect, wait or loop at import time?)")
    if "error" in outcome:
        raise ConfigError(f"{what} {ref!r}: {outcome['error']}")
    return outcome["value"]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r}) while being imported"
    if isinstance(exc, KeyboardInterrupt):
        return "it raised KeyboardInterrupt"
    return f"{type(exc).__name__}: {redact(str(exc))}"


def _arm_last_resort(seconds: float) -> None:
    global _devnull
    if _devnull is None:
        _devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open: faulthandler writes to it later
    faulthandler.dump_traceback_later(seconds, exit=True, file=_devnull)
