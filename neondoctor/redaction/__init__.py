"""The one redaction mechanism: every byte neondoctor prints, logs or writes passes through here.

Two layers, because neither alone is enough:

* known secrets: the password of every URL neondoctor loads (userinfo and ``?password=``) is
  registered with its percent-encoded, JSON-escaped and quoted forms and masked wherever it appears,
  even inside a driver's free-form error text (``redactor``: the process-wide ``REDACTOR``);
* patterns: URL userinfo and secret keys (``password=``, ``DB_PASSWORD=``, ``Pwd=``) in DSNs, env
  files, JSON, Ruby hashes and ODBC strings are masked even when the secret was never registered
  (a URL pasted into ``triage``, a log line being scanned) (``shapes``).

Every output path calls the same ``redact``: the stdout/stderr wrappers (``outputs``), the stdlib
logging filter (``logfilter``, imported on first use: `logging` is not loaded for nothing), files
(``write_text``) and structlog events (neondoctor.log). Import from here: this package is the one door.
"""

from typing import Any

from neondoctor.redaction.outputs import RedactingStream, redacting
from neondoctor.redaction.redactor import REDACTOR, Redactor, redact, redact_value, register_secret, write_text
from neondoctor.redaction.shapes import MASK, STRONG_LENGTH, is_secret_key, secret_forms

__all__ = ["MASK", "REDACTOR", "STRONG_LENGTH", "RedactingFilter", "RedactingStream", "Redactor", "is_secret_key",
           "redact", "redact_value", "redacting", "register_secret", "secret_forms", "write_text"]


def __getattr__(name: str) -> Any:
    if name == "RedactingFilter":
        from neondoctor.redaction.logfilter import RedactingFilter

        return RedactingFilter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
