"""Structured logging: one line per event, `key=value` pairs that grep and log shippers both read.

Every line names the event and the message or case it concerns. Secrets are never passed here; as
a second line of defence any field whose name looks like a secret is masked.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

_SECRET_KEYS = ("password", "token", "secret", "authorization")


def _fmt(value: Any) -> str:
    s = str(value)
    if s == "" or any(c in s for c in ' ="\n\t'):
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(), "event": record.getMessage()}
        fields.update(getattr(record, "fields", {}))
        for k in list(fields):
            if any(s in k.lower() for s in _SECRET_KEYS):
                fields[k] = "***"
        line = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        if record.exc_info:
            line += " exc=" + _fmt(self.formatException(record.exc_info).splitlines()[-1])
        return line


def setup_logging(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("triage")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def event(logger: logging.Logger, name: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields}, exc_info=exc_info)


class ProgressBar(logging.Handler):
    """A terminal progress bar for long fetches (backfill of a big mailbox), drawn from the same
    `imap_progress` / `processing_progress` events the log records, so there is one source of truth.
    Only attached when stderr is a terminal; logs and pipes keep plain lines."""

    WIDTH = 30

    def __init__(self, stream=None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream or sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        name = record.getMessage()
        if name not in ("imap_progress", "processing_progress"):
            return
        f = getattr(record, "fields", {})
        done, total = int(f.get("done", 0)), max(1, int(f.get("total", 1)))
        filled = int(self.WIDTH * done / total)
        label = "fetching" if name == "imap_progress" else "processing"
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}{end}")
        self.stream.flush()


def attach_progress_bar() -> None:
    if sys.stderr.isatty():
        logging.getLogger("triage").addHandler(ProgressBar())
