"""Keeps secrets out of every log line and error message.

Secrets are collected from the configuration (every setting declared secret) and from
credentials obtained at run time (access tokens, session cookies, IAM tokens). A log record
factory rewrites each record's final message and traceback text before any handler sees it,
so redaction holds whatever logging configuration the SDK or the user installs.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Values shorter than this are not treated as secrets: masking "1" or "" would garble logs.
_MIN_SECRET_LENGTH = 4


class Redactor:
    """A thread-safe set of secret strings and the means to mask them in text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, *values: object) -> None:
        """Register secret values, with the encodings they travel in (URL, basic auth)."""
        new: set[str] = set(self._secrets)
        for value in values:
            if not isinstance(value, str) or len(value) < _MIN_SECRET_LENGTH:
                continue
            new.update({value, quote(value, safe=""), quote_plus(value)})
            new.add(base64.b64encode(value.encode()).decode())
        with self._lock:
            # Longest first, so that a secret containing another is masked whole.
            self._secrets = tuple(sorted(new, key=len, reverse=True))

    def add_basic_credentials(self, user: str, password: str) -> None:
        """Register the base64 form a Basic authorization header carries."""
        self.add(password, base64.b64encode(f"{user}:{password}".encode()).decode())

    def redact(self, text: str) -> str:
        """Return text with every registered secret replaced by the mask."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def secret_values(config: Mapping[str, Any], secret_paths: Iterable[tuple[str, ...]]) -> list[str]:
    """Return the configured values at the given (section, setting) paths."""
    values: list[str] = []
    for path in secret_paths:
        node: Any = config
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, str):
            values.append(node)
    return values


REDACTOR = Redactor()

_install_lock = threading.Lock()
_installed = False


def install_log_redaction(redactor: Redactor = REDACTOR) -> None:
    """Wrap the logging record factory once so that every record is redacted."""
    global _installed  # noqa: PLW0603 - one process-wide hook, installed once
    with _install_lock:
        if _installed:
            return
        base_factory = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:  # noqa: ANN401
            record = base_factory(*args, **kwargs)
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return record
            record.msg = redactor.redact(message)
            record.args = None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = redactor.redact(
                    logging.Formatter().formatException(record.exc_info)
                )
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
