"""What a reproduced fault hands to triage: the error the driver really raised, as an app logs it.

A fault is a context manager (neondoctor.lab.demo, neondoctor.lab.demo_pooler) that breaks
something, yields `raised(...)` while the breakage still holds, and restores it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable


class NotReproduced(RuntimeError):
    """The step that should have failed succeeded: the fault is not there."""

    def __init__(self) -> None:
        super().__init__("the fault did not reproduce")


def error_of(exc: BaseException) -> str:
    """`module.Type: message`, as a traceback's last line names it (builtins without the module)."""
    module = type(exc).__module__
    name = type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"
    return f"{name}: {exc}".strip()


def raised(step: Callable[[], object]) -> str:
    """Run the step the fault should make fail; its error, or NotReproduced when it succeeds."""
    try:
        step()
    except Exception as exc:
        return error_of(exc)
    raise NotReproduced
