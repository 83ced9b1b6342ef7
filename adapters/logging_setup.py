"""Structured logging for parity processes.

* :func:`configure_logging` installs one handler on the ``parity`` logger
  (plain text or one JSON object per line), sets its level and a redaction
  filter that masks every registered secret in messages and arguments.
* :func:`get_logger` returns a logger for a component (``store``,
  ``telemetry``, ``alerts``...); records carry ``component`` and the current
  ``run_id`` (set with :func:`set_run_id` / :func:`run_context`), so every line
  of a run can be found by its id.

Only loggers under ``parity.`` are configured; the root logger and other
libraries' loggers are left alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

ROOT_LOGGER = "parity"
_run_id: contextvars.ContextVar[str] = contextvars.ContextVar("parity_run_id", default="")
_HANDLER_ATTR = "_parity_handler"
# Standard LogRecord attributes: everything else on a record is a structured extra.
_RESERVED = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def set_run_id(run_id: str) -> contextvars.Token:
    """Tag log records of this thread/context with ``run_id``."""
    return _run_id.set(run_id)


def current_run_id() -> str:
    return _run_id.get()


@contextlib.contextmanager
def run_context(run_id: str) -> Iterator[None]:
    token = _run_id.set(run_id)
    try:
        yield
    finally:
        _run_id.reset(token)


class _ContextFilter(logging.Filter):
    """Adds ``run_id`` (from the context unless given) and ``component`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "run_id", ""):
            record.run_id = _run_id.get()
        if not getattr(record, "component", ""):
            name = record.name
            record.component = name[len(ROOT_LOGGER) + 1 :] if name.startswith(ROOT_LOGGER + ".") else name
        return True


class RedactingFilter(logging.Filter):
    """Replaces every secret string in a record's message (after formatting its args) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        merged = set(self.secrets) | {s for s in secrets if s and len(s) >= 3}
        self.secrets = sorted(merged, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self._scrub(record.getMessage())
            record.args = None
            for key, value in list(vars(record).items()):
                if key not in _RESERVED and isinstance(value, str):
                    setattr(record, key, self._scrub(value))
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, component, run_id, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "component": getattr(record, "component", ""),
            "run_id": getattr(record, "run_id", ""),
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in out and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record (redirections keep working)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(component)s [%(run_id)s] %(message)s"


def configure_logging(
    level: str | int = "INFO",
    json_lines: bool = False,
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
) -> logging.Logger:
    """Configure the ``parity`` logger tree; calling it again replaces the previous handler.

    Args:
        level: a level name or number.
        json_lines: JSON objects instead of text lines.
        stream: where to write (default ``sys.stderr``).
        secrets: strings to mask in every record (passwords, webhook URLs).
    """
    logger = logging.getLogger(ROOT_LOGGER)
    old = getattr(logger, _HANDLER_ATTR, None)
    if old is not None:
        logger.removeHandler(old)
    handler: logging.StreamHandler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.addFilter(_ContextFilter())
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    setattr(logger, _HANDLER_ATTR, handler)
    logger.setLevel(level if isinstance(level, int) else level.upper())
    logger.propagate = False
    return logger


def add_secrets(secrets: Iterable[str]) -> None:
    """Register more strings to mask on the configured handler (no-op before configure_logging)."""
    handler = getattr(logging.getLogger(ROOT_LOGGER), _HANDLER_ATTR, None)
    if handler is not None:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                f.add(secrets)


class ComponentLogger(logging.LoggerAdapter):
    """A logger adapter that adds ``component`` and keeps the call's own ``extra`` fields."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def get_logger(component: str) -> ComponentLogger:
    """A logger for ``component`` whose records carry ``component`` (and the context's run id)."""
    return ComponentLogger(logging.getLogger(f"{ROOT_LOGGER}.{component}"), {"component": component})


__all__ = [
    "ComponentLogger",
    "JsonFormatter",
    "RedactingFilter",
    "add_secrets",
    "configure_logging",
    "current_run_id",
    "get_logger",
    "run_context",
    "set_run_id",
]
