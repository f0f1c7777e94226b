"""What counts as a leak, written from the promise rather than from neondoctor.redaction.

A password form of 12 or more characters must not appear anywhere. A shorter one may be an
ordinary word (`app`, `postgres`): it leaks where it stands as a token, i.e. not glued to another
letter or digit on an edge where the form itself has one (a percent escape before it does not
count as glue: `%3Aapp%40` is a leak), and not inside a URL scheme, a JSON object key or the key of a key=value pair.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

STRONG = 12
_PROTECTED = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,40}://|\"(?:[^\"\\\n]|\\.){0,200}\"(?=\s*:)"
                        r"|(?<![^\s?&;,(])[A-Za-z_][\w.\-]{0,63}(?==)")


def forms(password: str) -> set[str]:
    out = {password, quote(password, safe=""), quote_plus(password), json.dumps(password)[1:-1],
           json.dumps(password, ensure_ascii=False)[1:-1]}
    return {f for f in out if len(f) >= 3}


def leaks(password: str, text: str) -> list[str]:
    """The forms of `password` that `text` shows (empty when none)."""
    found: list[str] = []
    protected = [m.span() for m in _PROTECTED.finditer(text)]
    for form in forms(password):
        start = 0
        while (i := text.find(form, start)) >= 0:
            start = i + 1
            end = i + len(form)
            if len(form) < STRONG:
                if any(a <= i and end <= b for a, b in protected):
                    continue
                left = i > 0 and _word(form[0]) and _word(text[i - 1]) and not re.search(r"%[0-9A-Fa-f]{2}$",
                                                                                          text[max(0, i - 3):i])
                right = end < len(text) and _word(form[-1]) and _word(text[end])
                if left or right:
                    continue
            found.append(form)
            break
    return found


def _word(ch: str) -> bool:
    return bool(re.match(r"\w", ch))
