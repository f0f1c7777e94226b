"""The runbook model: frozen dataclasses a loaded, validated runbook is made of, and the problem list.

Nothing here reads files or validates: validate.py builds these from YAML data, load.py finds and
caches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neondoctor.triage.patterns import BoundedPattern, bounded

# Match operators: name -> how the condition's value is turned into a compiled regex.
# A new operator is one entry here (value -> pattern source, in validate.py) plus its literal for the pre-filter.
OPERATORS: dict[str, str] = {
    "contains": "a literal phrase, case-insensitive, whitespace-tolerant",
    "regex": "a regular expression (RE2 syntax: linear time), case-insensitive",
    "all": "a list of literal phrases that must all occur (the first one is reported)",
}
# Where the error was raised, read from the stack (see triage/context.py): `connect` (opening a
# connection), `in-use` (on an established one), `unknown` (no stack to tell). A condition with
# `context:` matches only in those; without it, in any.
CONTEXTS = ("connect", "in-use", "unknown")


@dataclass(frozen=True)
class Condition:
    name: str
    operator: str
    value: str | tuple[str, ...]
    regex: str  # the compiled form's source; compiled on first use (start-up pays only for what runs)
    literals: tuple[str, ...]  # lower-case literals, one of which occurs in any text the pattern matches
    contexts: tuple[str, ...] = ()  # where the error must have been raised; () means anywhere
    unless: tuple[str, ...] = ()  # lower-case phrases that, present anywhere in the paste, veto the match
    where: str = ""  # file and key path, for an error about this condition
    shipped: bool = False  # from neondoctor's own runbooks: reviewed, and kept on `re` for start-up speed

    @property
    def pattern(self) -> BoundedPattern:
        """A user `regex:` runs on RE2 when installed, else on `re` within a time budget (patterns.py)."""
        return bounded(self.regex, self.where, self.operator == "regex" and not self.shipped)

    @property
    def source(self) -> str:
        return self.value if isinstance(self.value, str) else " & ".join(self.value)


@dataclass(frozen=True)
class Step:
    id: str
    cause: str
    probe: str  # a probe id, or "manual"
    params: tuple[tuple[str, Any], ...] = ()
    fix: str = ""
    docs: str | None = None
    manual: str | None = None  # the exact instruction for a human check

    @property
    def is_manual(self) -> bool:
        return self.manual is not None

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Runbook:
    id: str
    title: str
    order: int
    conditions: tuple[Condition, ...]
    steps: tuple[Step, ...]
    description: str = ""
    path: str = ""

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass
class Problems:
    """Every problem found while loading, as `file: key path: message`; raised together at the end."""

    items: list[str] = field(default_factory=list)

    def add(self, path: Path | str, key: str, message: str) -> None:
        self.items.append(f"{path}: {key}: {message}")
