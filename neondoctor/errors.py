"""Exceptions that end a command with a clear one-line message and a documented exit code."""

from __future__ import annotations

# Exit codes shared by every command (the README documents them).
EXIT_OK = 0
EXIT_FINDINGS = 1  # a check failed, a finding at warn or above, or no cause confirmed
EXIT_CONFIG = 2  # usage or configuration error: nothing was checked
EXIT_NO_MATCH = 3  # triage: no runbook matches the pasted error
EXIT_UNREACHABLE = 4  # could not connect at all (slots full, unreachable)
EXIT_INTERNAL = 70  # a bug in neondoctor (EX_SOFTWARE); the message says how to report it
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)


class NeondoctorError(Exception):
    """An error with a message for the user and the exit code the CLI must return."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(NeondoctorError):
    """Bad or missing configuration: DATABASE_URL, .env, a runbook file, an option."""

    exit_code = EXIT_CONFIG


class LabError(NeondoctorError):
    """The throwaway PostgreSQL could not be created, started or stopped."""

    exit_code = EXIT_CONFIG
