"""Triage: from a pasted error to a confirmed cause.

runbook/    the YAML runbooks: model, validation (probe parameters included), loading (cached on disk by content)
matcher.py  which runbook (and condition) a pasted error belongs to
context.py  where the error was raised (connect vs an established connection), from the stack
target.py   the error's own server, port, user, database, driver, sslmode, SQLSTATE
translations.py / translations.json  PostgreSQL's own translations of the matched messages
walk.py     the walk: one probe at a time, next cause only when the current one is ruled out
logscan/    a whole log, streamed, through the same matcher (Hyperscan or re pre-filter)
probes/     one module per verification probe, found by its own id (probes/__init__.py)
"""
