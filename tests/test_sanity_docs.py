"""The README's CI examples for sanity and the repository's pre-commit hook are real: they parse, and
every neondoctor command line in them is accepted by the CLI as written."""

from __future__ import annotations

import re
import shlex

import click
import yaml

from neondoctor.cli import COMMANDS, cli
from tests.conftest import REPO


def _sanity_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("### `neondoctor sanity`")
    return text[start:text.index("\n### ", start + 10)]


def _workflows() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", _sanity_section(), flags=re.S)
    return [yaml.safe_load(b) for b in blocks if b.lstrip().startswith(("jobs:", "on:"))]


def _runs(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_both_github_workflows_parse_and_use_junit() -> None:
    flows = _workflows()
    assert len(flows) == 2, "a service-container workflow and a Neon-branch workflow"
    service, neon = flows
    assert "postgres" in service["jobs"]["db-sanity"]["services"]
    uses = [s.get("uses", "") for s in _runs(neon)]
    assert any(u.startswith("neondatabase/create-branch-action@") for u in uses)
    assert any(u.startswith("neondatabase/delete-branch-action@") for u in uses)
    for flow in flows:
        commands = [s["run"] for s in _runs(flow) if "neondoctor sanity" in s.get("run", "")]
        assert commands and all("--junit sanity.xml" in c for c in commands)
        junit = [s for s in _runs(flow) if s.get("with", {}).get("report_paths") == "sanity.xml"]
        assert junit and junit[0]["if"] == "always()"


def test_every_sanity_command_line_in_the_readme_is_accepted() -> None:
    lines = [s["run"] for flow in _workflows() for s in _runs(flow) if "neondoctor sanity" in s.get("run", "")]
    lines += re.findall(r"`(neondoctor sanity [^`]+)`", _sanity_section().replace("\n", " "))
    assert len(lines) >= 3
    for line in lines:
        args = shlex.split(line[line.index("neondoctor") + len("neondoctor"):])
        assert args[0] == "sanity"
        command = cli.get_command(click.Context(cli), "sanity")
        assert command is not None
        command.make_context("sanity", args[1:])  # raises click.UsageError on an unknown option


def test_pre_commit_hook_runs_neondoctor_secrets() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "neondoctor-secrets")
    assert hook["entry"] == "neondoctor secrets" and hook["pass_filenames"] is False
    assert hook["language"] == "python"  # pre-commit installs this repository's package
    assert "secrets" in COMMANDS
