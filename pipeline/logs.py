"""Logging as Sensu 1.x writes it: one JSON object per line, or plain text on request.

Everything ogi logs goes through the logger "ogi" (modules use `logging.getLogger("ogi.engine")`
and so on). Structured data goes in the `fields` extra, never formatted into the message, so
log readers can filter on it::

    log.info("handler output", extra={"fields": {"handler": "mail", "status": 0}})

gives::

    {"timestamp": "2024-05-01T12:00:00.000000+02:00", "level": "info", "message": "handler output",
     "handler": "mail", "status": 0}

An exception logged with `log.exception(...)` or `exc_info=` becomes an "error" field
(`"ValueError: boom"`) plus a "backtrace" field. Field names never replace `timestamp`,
`level` or `message`. Levels are Sensu's: debug, info, warn, error, fatal.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import traceback
from datetime import datetime
from typing import Any

LOGGER_NAME = "ogi"

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}
#: The names written into log lines, Sensu's spelling.
LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn",
               logging.ERROR: "error", logging.CRITICAL: "fatal"}
_CORE = ("timestamp", "level", "message")
_HANDLER_NAME = "ogi-output"  # marks the handler setup_logging owns, so a second call replaces it
_configured_level = logging.INFO  # the `-L` level, restored when SIGTRAP turns debug off again


def level_name(levelno: int) -> str:
    return LEVEL_NAMES.get(levelno, logging.getLevelName(levelno).lower())


def parse_level(level: str) -> int:
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r} (use one of {', '.join(LEVELS)})") from None


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="microseconds")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _error_fields(record: logging.LogRecord) -> dict[str, Any]:
    if not record.exc_info or record.exc_info[0] is None:
        return {}
    exc_type, exc, tb = record.exc_info
    return {
        "error": f"{exc_type.__name__}: {exc}",
        "backtrace": "".join(traceback.format_exception(exc_type, exc, tb)).rstrip(),
    }


#: Longest log line, in characters: a check or handler writing megabytes of output (logged as a
#: field) must not make megabyte lines that fill the disk and choke log shippers.
MAX_LINE = 64 * 1024
#: What a value keeps of itself when its line is too long.
VALUE_CAP = 8 * 1024


def _fit(line: dict[str, Any]) -> dict[str, Any]:
    """The line with each long value (strings, and lists or objects as their JSON) cut to VALUE_CAP."""
    fitted: dict[str, Any] = {}
    for key, value in line.items():
        text = value if isinstance(value, str) else None
        if text is None and not isinstance(value, int | float | bool | None):
            text = json.dumps(value, default=str, ensure_ascii=False)
        if text is not None and len(text) > VALUE_CAP:
            value = f"{text[:VALUE_CAP]}... [ogi: cut, {len(text)} characters in all]"
        fitted[key] = value
    return fitted


class JsonFormatter(logging.Formatter):
    """`{"timestamp", "level", "message", <fields>}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": level_name(record.levelno),
            "message": record.getMessage(),
        }
        for key, value in {**_fields(record), **_error_fields(record)}.items():
            if key not in _CORE:
                line[key] = value
        text = json.dumps(line, default=str, ensure_ascii=False)
        return text if len(text) <= MAX_LINE else json.dumps(_fit(line), default=str, ensure_ascii=False)[:MAX_LINE]


class TextFormatter(logging.Formatter):
    """`TIMESTAMP LEVEL message key=value ...` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), level_name(record.levelno).upper(), record.getMessage()]
        fields = _fields(record)
        if len(parts[2]) > MAX_LINE or len(repr(fields)) > MAX_LINE:
            parts[2] = _fit({"message": parts[2]})["message"]
            fields = _fit(fields)
        errors = _error_fields(record)
        if "error" in errors:
            fields["error"] = errors["error"]
        parts.extend(f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in fields.items())
        text = " ".join(parts)
        if "backtrace" in errors:
            text += "\n" + errors["backtrace"]
        return text


def setup_logging(file: str | None = None, level: str = "info", fmt: str = "json") -> logging.Logger:
    """Point the "ogi" logger at stderr or FILE; calling it again replaces the previous setup.

    A file is reopened when logrotate moves it (WatchedFileHandler), so no signal is needed.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r} (use json or text)")
    global _configured_level
    logger = logging.getLogger(LOGGER_NAME)
    _configured_level = parse_level(level)
    logger.setLevel(_configured_level)
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if file:
        handler = logging.handlers.WatchedFileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name(_HANDLER_NAME)
    logger.addHandler(handler)
    return logger


def reopen_log() -> bool:
    """Close and reopen the log file (SIGUSR2, for logrotate's `postrotate`); False when logging to stderr."""
    reopened = False
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if handler.get_name() == _HANDLER_NAME and isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                handler.stream = handler._open()
                if isinstance(handler, logging.handlers.WatchedFileHandler):
                    handler._statstream()  # remember the new file, or the next line would reopen it again
            finally:
                handler.release()
            reopened = True
    return reopened


def toggle_debug() -> bool:
    """Switch between debug and the configured level (SIGTRAP, as Sensu's daemons); True when debug is now on."""
    logger = logging.getLogger(LOGGER_NAME)
    if logger.level == logging.DEBUG:
        logger.setLevel(_configured_level if _configured_level != logging.DEBUG else logging.INFO)
        return False
    logger.setLevel(logging.DEBUG)
    return True
