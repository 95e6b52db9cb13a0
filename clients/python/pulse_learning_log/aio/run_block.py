"""``async with pulse_learning_log.aio.run("exp-42", params={...}):``: the
run block of :mod:`pulse_learning_log.run_block` for asyncio code, logging
``run_started`` and ``run_finished`` through an asyncio client or writer."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Dict, Optional, Type

from .. import _default, runs
from ..diagnostics import logger
from ..run_block import RUN_FINISHED, RUN_STARTED, check_params, finished_data, started_data
from .client import LearningLogClient

__all__ = ["AsyncRunBlock", "run"]


class AsyncRunBlock:
    """The ``async with`` block of one run (see :func:`run`)."""

    def __init__(self, run: str, params: Optional[Dict[str, Any]], sink: Any):
        #: The run's id.
        self.run = runs.check_run_id(run)
        #: The run's parameters.
        self.params = check_params(params)
        self._sink = sink
        self._own: Optional[LearningLogClient] = None

    async def __aenter__(self) -> "AsyncRunBlock":
        if self._sink is None:
            # Where the module functions log: configure()'s settings, else the environment's.
            self._own = LearningLogClient(**_default.client_options())
        runs.enter_block(self, self.run)
        try:
            await self._target().log_event(RUN_STARTED, started_data(self.params))
        except BaseException:
            runs.leave_block(self)
            await self._close_own()
            raise
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        try:
            sink = self._target()
            await sink.log_event(RUN_FINISHED, finished_data(exc))
            flush = getattr(sink, "flush", None)
            if flush is not None:
                await flush()
        except Exception as err:
            if exc is None:
                raise
            # The block's own exception is the one that propagates.
            logger.error("run %r: run_finished could not be logged after the block failed: %s", self.run, err)
        finally:
            runs.leave_block(self)
            await self._close_own()

    def _target(self) -> Any:
        return self._sink if self._sink is not None else self._own

    async def _close_own(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            await own.close()


def run(run_id: str, params: Optional[Dict[str, Any]] = None, *, client: Any = None) -> AsyncRunBlock:
    """``async with run("exp-42", params={...}):`` puts the run in force for
    every event the process logs (over ``configure(run=...)`` and
    ``PULSE_LEARNING_LOG_RUN``), logs ``run_started`` and, on the way out,
    ``run_finished`` (finished, or failed with the exception's type and
    message, which then propagates).

    :param run_id: 1 to 128 printable ASCII characters other than ``"`` and
        ``\\``; else ``ValueError``.
    :param params: the run's parameters (a dict), logged in ``run_started``.
    :param client: an asyncio :class:`LearningLogClient` or
        :class:`BatchWriter` (flushed after ``run_finished``) to log the two
        records with; default a client of the block's own, closed at the
        end, with the settings of the module functions (those of
        :func:`~pulse_learning_log.configure`, else the environment's:
        address, token, TLS).
    """
    return AsyncRunBlock(run_id, params, client)
