"""The process-wide Redactor: the secrets registered so far, and the one function that masks text.

``Redactor.text`` masks the known secrets first (longest form first, a short one only as a token),
then the secret shapes of neondoctor.redaction.shapes. Every output path calls it through
``redact``/``redact_value`` (neondoctor.redaction.outputs, neondoctor.log).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from neondoctor.redaction.shapes import MASK, STRONG_LENGTH, mask_shapes, mask_tokens, secret_forms, token_pattern


class Redactor:
    """Masks known secrets and secret-shaped substrings. Thread-safe; one process-wide instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._strong: tuple[str, ...] = ()
        self._weak: re.Pattern[str] | None = None

    def register(self, secret: str | None) -> None:
        """Remember a secret so that every later output masks it, in all the forms it travels in."""
        if not secret:
            return
        forms = secret_forms(secret)
        with self._lock:
            if not forms <= set(self._secrets):
                self._install(self._secrets + tuple(forms))

    def forget_all(self) -> None:
        self.restore(())

    def restore(self, secrets: tuple[str, ...]) -> None:
        """Keep only `secrets` (an earlier `.secrets`): many commands run in one test process."""
        with self._lock:
            self._install(secrets)

    def _install(self, secrets: tuple[str, ...]) -> None:
        # Longest first, so an encoded form is masked whole before its raw substring.
        self._secrets = tuple(sorted(set(secrets), key=lambda f: (-len(f), f)))
        self._strong = tuple(f for f in self._secrets if len(f) >= STRONG_LENGTH)
        weak = [token_pattern(f) for f in self._secrets if len(f) < STRONG_LENGTH]
        self._weak = re.compile("|".join(weak)) if weak else None

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def text(self, value: str) -> str:
        if not value:
            return value
        for secret in self._strong:
            if secret in value:
                value = value.replace(secret, MASK)
        weak = self._weak
        if weak is not None and weak.search(value):
            value = mask_tokens(weak, value)
        return mask_shapes(value)

    def value(self, obj: Any) -> Any:
        """Redact strings anywhere inside dicts, lists and tuples (JSON documents, log events)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.value(k): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.value(v) for v in obj)
        if isinstance(obj, BaseException):
            return self.text(f"{type(obj).__name__}: {obj}")
        return obj

    def held_from(self, text: str) -> int:
        """Where the part of `text` that a later write could turn into a secret begins (len: none).

        Used when a partial line must be flushed: everything before it can be shown already.
        """
        cut = len(text)
        for form in self._secrets:
            for start in range(max(0, len(text) - len(form) + 1), len(text)):
                if form.startswith(text[start:]):
                    cut = min(cut, start)
                    break
        return cut


REDACTOR = Redactor()


def register_secret(secret: str | None) -> None:
    REDACTOR.register(secret)


def redact(value: str) -> str:
    return REDACTOR.text(value)


def redact_value(obj: Any) -> Any:
    return REDACTOR.value(obj)


def write_text(path: str | Path, text: str) -> None:
    """Write a file neondoctor produces (reports, JUnit): redacted like every other output."""
    Path(path).write_text(redact(text), encoding="utf-8")
