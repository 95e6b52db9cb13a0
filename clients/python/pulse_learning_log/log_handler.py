"""PulseLogHandler: standard ``logging`` calls that carry an ``event_type``
extra become learning events.

    import logging
    from pulse_learning_log import PulseLogHandler

    logging.getLogger("pulse").addHandler(PulseLogHandler())
    log = logging.getLogger("pulse.learning")
    log.info("weight changed", extra={"event_type": "variable_weight_update",
                                      "data": {"variable": "hope", "from": 1.0, "to": 1.2}})

Records without ``event_type`` are left alone, so the handler can sit on any
logger (the root one too) beside the usual handlers.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Protocol

from .diagnostics import logger as client_logger

__all__ = ["PulseLogHandler", "EventSink"]


class EventSink(Protocol):
    """Where the handler sends events: anything with the client's
    ``log_event(event_type, data, context, *, event_id)`` (a
    :class:`LearningLogClient` or a :class:`BatchWriter`)."""

    def log_event(self, event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> Any: ...


class PulseLogHandler(logging.Handler):
    """A ``logging.Handler`` that logs each record carrying an ``event_type``
    extra as a learning event.

    The event: ``event_type`` from the extra; ``data`` the ``data`` extra
    (a dict) when given, else ``{"message": <the formatted message>}``;
    ``context`` ``{"logger": <name>, "level": <level name>}`` updated with
    the ``context`` extra (a dict) when given; ``event_id`` the
    ``event_id`` extra when given (for idempotent retries).

    :param sink: where events go: default the module-level
        :func:`~pulse_learning_log.log_event` (so :func:`configure` decides:
        durable, or background mode); or a :class:`LearningLogClient` /
        :class:`BatchWriter` of your own.
    :param level: the handler's level (``logging.NOTSET`` by default).

    A record whose event cannot be logged (a bad value, the server
    unreachable in durable mode) goes to ``handleError`` like any handler's
    failure: logging never raises into the caller.
    """

    def __init__(self, sink: Optional[EventSink] = None, level: int = logging.NOTSET):
        super().__init__(level)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        event_type = getattr(record, "event_type", None)
        if event_type is None or record.name == client_logger.name or record.name.startswith(client_logger.name + "."):
            return  # not an event; and never the client's own reports (no loops)
        try:
            data = getattr(record, "data", None)
            if data is None:
                data = {"message": record.getMessage()}
            context: Dict[str, Any] = {"logger": record.name, "level": record.levelname}
            extra_context = getattr(record, "context", None)
            if extra_context is not None:
                if not isinstance(extra_context, dict):
                    raise ValueError(f"the context extra must be a dict, got {type(extra_context).__name__}")
                context.update(extra_context)
            event_id = getattr(record, "event_id", None)
            if self.sink is not None:
                self.sink.log_event(event_type, data, context, event_id=event_id)
            else:
                from . import log_event  # the package's module function (imported late: the package imports this module)

                log_event(event_type, data, context, event_id=event_id)
        except Exception:  # noqa: BLE001 - a handler reports through handleError, never raises
            self.handleError(record)
