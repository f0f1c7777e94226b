"""Pure renderers, one module per report type: report -> text (colour passed in) and -> JSON dict.

Every module names them alike: `to_text(report, *, colour=False) -> str` and `to_json(report) -> dict`
(plus `to_junit`, `to_html` where a report has those forms); a module with several kinds of output
names the others `<what>_text` / `<what>_json` (runbooks' list and show, a pool-stats sample, the lab
demo). Nothing here prints, decides an exit code or touches a database: neondoctor/cli/output.py
echoes what these return, and colour.py holds the one colour decision.

triage.py (+ the lab demo)   logscan.py (triage --log)   runbooks.py    sanity.py (+ JUnit)
pool_stats.py (snapshot, watch)  pool_stats_check.py (--check, Prometheus)  pool_stats_report.py
pool_stats_html.py           latency.py   url.py   secrets.py   lab.py (status, versions)
"""
