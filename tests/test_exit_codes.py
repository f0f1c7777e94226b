"""Exit codes come from one place: neondoctor/errors.py. The README documents exactly those, and
every command ends through neondoctor/cli/output.py (no sys.exit, SystemExit or bare numbers)."""

from __future__ import annotations

import re
from pathlib import Path

from neondoctor import errors

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / "neondoctor" / "cli"


def _constants() -> dict[str, int]:
    return {name: value for name, value in vars(errors).items() if name.startswith("EXIT_")}


def _readme_table() -> dict[int, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE)
    assert rows, "the README's Exit codes section has a table"
    return {int(code): meaning for code, meaning in rows}


def test_readme_documents_exactly_the_exit_codes_errors_defines() -> None:
    constants = _constants()
    assert len(set(constants.values())) == len(constants), f"two names for one code: {constants}"
    assert sorted(_readme_table()) == sorted(constants.values())


def test_the_cli_help_names_every_exit_code_but_interrupt() -> None:
    from neondoctor.cli import cli

    doc = cli.help or ""
    for name, code in _constants().items():
        if name != "EXIT_INTERRUPTED":
            assert re.search(rf"\b{code} ", doc), f"{name}={code} missing from `neondoctor --help`"


def test_commands_end_through_the_output_helper_only() -> None:
    """The group's `invoke` (cli/__init__.py) maps exceptions to codes; output.py's finish() ends a command."""
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        if path.name in ("__init__.py", "output.py"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bsys\.exit\(|\bSystemExit\b|\bos\._exit\(|\.exit\(", line):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
            if re.search(r"exit_code=\d", line) or re.search(r"finish\(\d", line):
                offenders.append(f"{path.name}:{n}: bare number: {line.strip()}")
    assert not offenders, "\n".join(offenders)
