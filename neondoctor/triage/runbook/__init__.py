"""Runbooks as data: load YAML files, validate every one of them up front, return frozen models.

A runbook file looks like::

    id: auth-failure
    title: The server rejected the credentials
    order: 10
    match:                       # any condition matching wins; first in the list first
      - name: password-failed
        contains: password authentication failed
      - name: sqlstate-28P01
        regex: '\\b28P01\\b'
      - name: closed-at-connect
        contains: server closed the connection unexpectedly
        context: connect         # only when the stack shows the error was raised while connecting
        unless: [HTTPSConnectionPool(]   # not when these words show another stack's failure
    steps:                       # walked in order, one probe at a time
      - id: wrong-password
        cause: The password in DATABASE_URL is not the role's password
        probe: auth
        params: {}
        fix: Reset it ...
        docs: https://...
      - id: rotate
        cause: ...
        manual: Open the Neon console ...   # a check only a human can do

All problems of all files are collected and raised together as one ConfigError (exit 2),
each with its file and key path.

The package: model.py (the frozen dataclasses), validate.py (YAML data -> models, every problem with
file and key path), load.py (directories, YAML, the in-memory and on-disk caches). Importers use
this module's names; validate.py is imported only when a file is not in the cache.
"""

from __future__ import annotations

from neondoctor.triage.patterns import literal_pattern
from neondoctor.triage.runbook.load import load_runbooks, runbook_files, shipped_runbooks_dir, validate_dir
from neondoctor.triage.runbook.model import CONTEXTS, OPERATORS, Condition, Problems, Runbook, Step

__all__ = ["CONTEXTS", "OPERATORS", "Condition", "Problems", "Runbook", "Step", "literal_pattern", "load_runbooks",
           "runbook_files", "shipped_runbooks_dir", "validate_dir"]
