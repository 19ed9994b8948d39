"""Credentials from the environment, and redaction of them from anything we print.

A credential is read from ``NAME`` or, if unset, from the file named by ``NAME_FILE``.
Values are registered with :func:`register_secret` so that :class:`RedactingFilter` removes
them from every log record, and :func:`redact` from any message we build (URLs included).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

_SECRETS: set[str] = set()
MASK = "***"
_QUERY_KEY = re.compile(r"(?i)(apikey|api_key|token|secret|signature|x-amz-signature|x-amz-credential)=([^&\s\"']+)")
_BEARER = re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._\-]+)")


class MissingCredential(RuntimeError):
    pass


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def get_credential(name: str, required: bool = True) -> str | None:
    """Read credential ``name`` from the environment or from the file named by ``name_FILE``."""
    value = os.environ.get(name)
    if not value:
        file_name = os.environ.get(f"{name}_FILE")
        if file_name:
            path = Path(file_name)
            if not path.is_file():
                raise MissingCredential(f"{name}_FILE names {file_name}, which is not a readable file")
            value = path.read_text().strip()
    if not value:
        if required:
            raise MissingCredential(f"credential {name} is not set (set the environment variable {name} or {name}_FILE)")
        return None
    register_secret(value)
    return value


def redact(text: object) -> str:
    """Remove every registered secret and any key-like query parameter from ``text``."""
    s = str(text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        s = s.replace(secret, MASK)
    s = _QUERY_KEY.sub(lambda m: f"{m.group(1)}={MASK}", s)
    s = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", s)
    return s


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            # Format the traceback now, redacted, so no handler prints the raw one.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True
