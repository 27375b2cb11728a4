"""Log lines carry the id of the request they belong to.

:class:`RequestIdFilter` stamps ``record.request_id`` from :data:`app.edge.REQUEST_ID` (``-``
outside a request); :func:`log_config` is the ``logging.config.dictConfig`` document that
``kairos serve`` hands to uvicorn (so every worker process, uvicorn's access log included,
uses it) and the other commands apply: ``2025-03-14 12:30:00,123 INFO kairos.events
[3f2a...] message``.
"""

from __future__ import annotations

import logging
from typing import Any

from app.edge import REQUEST_ID

__all__ = ["LOG_FORMAT", "RequestIdFilter", "log_config"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record passing the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


def log_config(level: str) -> dict[str, Any]:
    """Root, ``kairos.*`` and uvicorn's loggers to stderr, each line with its request id."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"kairos": {"format": LOG_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "kairos",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own loggers: through the same handler, not their default ones.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": level, "handlers": [], "propagate": True},
            # APScheduler logs every run of every job at INFO (the worker's fallback poll runs
            # several times a second): only its warnings, unless everything is asked for.
            "apscheduler": {"level": level if level == "DEBUG" else "WARNING"},
        },
    }
