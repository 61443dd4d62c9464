"""Structured logs on stderr: JSON lines for machines, console rendering for people.

A container job's stderr is not a TTY, so it gets one JSON object per line (what log
collectors parse); a terminal gets structlog's console renderer. ``--log-format`` forces either.
stdout is reserved for the plan, so nothing here ever writes to it.

Every event passes through :func:`_redact` last-but-one: emails are masked unless asked
otherwise and anything shaped like an AWS credential is scrubbed, whatever the call site did.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

from reconciler.redact import clean

LEVELS = ("debug", "info", "warning", "error")


def configure(
    *,
    log_format: str | None,
    level: str = "info",
    mask_emails: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Set up structlog for this process; ``log_format`` None picks by whether stderr is a TTY."""
    out = stream if stream is not None else sys.stderr
    chosen = resolved_format(log_format, out)

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for name, value in list(event.items()):
            if isinstance(value, str):
                event[name] = clean(value, mask=mask_emails)
        return event

    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if chosen == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(
            file=out if stream is not None else cast(TextIO, _Stderr())
        ),
        cache_logger_on_first_use=False,
    )


def resolved_format(log_format: str | None, stream: TextIO) -> str:
    """The format in force: the one asked for, else console on a TTY and JSON elsewhere."""
    return log_format or ("console" if stream.isatty() else "json")


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write.

    Binding the stream object at configuration time would keep a stale one when the process
    swaps it (test capture, a daemonised job), and then every log line raises.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
