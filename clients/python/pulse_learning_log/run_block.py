"""``with pulse_learning_log.run("exp-42", params={...}):``: a run with a
beginning and an end.

Entering the block puts its run in force (over ``configure(run=...)`` and
``PULSE_LEARNING_LOG_RUN``, see :mod:`~pulse_learning_log.runs`) and logs
``run_started`` with data ``{"params": {...}, "pid": ..., "host": ...}``.
Leaving it logs ``run_finished`` with data ``{"status": "finished"}``, or,
when the block raised, ``{"status": "failed", "error": {"type": ..., "message": ...}}``
(and the exception propagates); then, once that record is durable (the
sink flushed), the run before the block is in force again and the hold on
the block's run ends. Both records carry the run like every other event.
"""

from __future__ import annotations

import os
import socket
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type

from . import runs
from .diagnostics import logger

__all__ = ["RunBlock", "started_data", "finished_data", "check_params"]

#: The event types of a run's beginning and end.
RUN_STARTED = "run_started"
RUN_FINISHED = "run_finished"


def check_params(params: Any) -> Dict[str, Any]:
    """The run's parameters: a dict (None: ``{}``); else ``ValueError``."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dictionary, got {type(params).__name__}")
    return params


def started_data(params: Dict[str, Any]) -> Dict[str, Any]:
    """The data of a ``run_started`` record: the params, and which process on which host."""
    return {"params": params, "pid": os.getpid(), "host": socket.gethostname()}


def finished_data(error: Optional[BaseException]) -> Dict[str, Any]:
    """The data of a ``run_finished`` record: finished, or failed with the
    exception's type and message. ``sys.exit()`` / ``sys.exit(0)`` in the
    block is a normal end: finished."""
    if error is None or (isinstance(error, SystemExit) and error.code in (None, 0)):
        return {"status": "finished"}
    return {"status": "failed", "error": {"type": type(error).__name__, "message": str(error)}}


class RunBlock:
    """The ``with`` block of one run (made by :func:`pulse_learning_log.run`).

    :param run: the run's id (checked: ``ValueError`` naming the problem).
    :param params: the run's parameters, logged in ``run_started``.
    :param log_event: logs a generic event ``(event_type, data)`` (the
        module's ``log_event``, or a client's or writer's).
    :param flush: makes what was logged durable (background mode, a
        writer); None when every call is durable when it returns.
    """

    def __init__(
        self,
        run: str,
        params: Optional[Dict[str, Any]],
        log_event: Callable[[str, Dict[str, Any]], Any],
        flush: Optional[Callable[[], Any]] = None,
    ):
        #: The run's id.
        self.run = runs.check_run_id(run)
        #: The run's parameters.
        self.params = check_params(params)
        self._log_event = log_event
        self._flush = flush

    def __enter__(self) -> "RunBlock":
        runs.enter_block(self, self.run)
        try:
            self._log_event(RUN_STARTED, started_data(self.params))
        except BaseException:
            runs.leave_block(self)
            raise
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        try:
            self._log_event(RUN_FINISHED, finished_data(exc))
            if self._flush is not None:
                self._flush()
        except Exception as err:
            if exc is None:
                raise
            # The block's own exception is the one that propagates.
            logger.error("run %r: run_finished could not be logged after the block failed: %s", self.run, err)
        finally:
            runs.leave_block(self)
