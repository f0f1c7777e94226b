"""The deployment sanity gate: sequence.py runs the steps (steps.py), with the run's target and engine
(target.py), marker rows and liveness lock (markers.py), neondoctor's own schema (own.py), schema drift
(drift.py), the Alembic head check (migrations.py), the restart child (restart.py, child.py) and the
advice for a failed step (advice.py); report.py holds what it reports."""
