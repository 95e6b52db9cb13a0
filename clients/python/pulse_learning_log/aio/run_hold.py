"""Holding a run open on the server from asyncio code: the sync hold's
policy (see :mod:`pulse_learning_log.run_hold`) as a task on the event loop
of the connection that logs into the run."""

from __future__ import annotations

import asyncio
from typing import Any, Optional, Tuple

import grpc
import grpc.aio
from .._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from ..diagnostics import logger
from ..run_hold import HOLD_PATH, hold_backoff, stops_hold
from ..runs import Hold

__all__ = ["AsyncRunHold"]


class AsyncRunHold(Hold):
    """Holds ``run`` open on a ``grpc.aio`` channel from a task of the
    running event loop until :meth:`end` (callable from any thread).

    :param channel: the ``grpc.aio`` channel of the connection logging into the run.
    :param metadata: the connection's call metadata (the bearer token).
    :param run: the run's id.
    """

    def __init__(self, channel: grpc.aio.Channel, metadata: Tuple[Tuple[str, str], ...], run: str):
        self.run = run
        self.ended = False
        self._method = channel.unary_stream(HOLD_PATH, request_serializer=pb.HoldRunRequest.SerializeToString, response_deserializer=pb.HoldRunResponse.FromString)
        self._metadata = metadata
        self._loop = asyncio.get_running_loop()
        self._task: "asyncio.Task[None]" = self._loop.create_task(self._hold())

    @property
    def alive(self) -> bool:
        """Not ended, and its task still runs (it stops when its loop does)."""
        return not self.ended and not self._task.done()

    async def _hold(self) -> None:
        failures = 0
        request = pb.HoldRunRequest(run=self.run)
        while not self.ended:
            call = self._method(request, metadata=self._metadata)
            code: Optional[grpc.StatusCode] = None
            try:
                async for _ in call:
                    failures = 0  # held: the server answered
            except grpc.RpcError as err:
                code = err.code()
            except asyncio.CancelledError:
                call.cancel()
                raise
            except Exception as err:  # noqa: BLE001 - the hold task must not die loudly
                logger.debug("HoldRun for run %r failed: %r", self.run, err)
            if self.ended or (code is not None and stops_hold(code, self.run)):
                return
            failures += 1
            await asyncio.sleep(hold_backoff(failures))

    def end(self) -> None:
        """Ends the hold: the task (and its call) is cancelled."""
        self.ended = True
        try:
            running: Any = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._task.cancel()
        elif not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:
                pass  # the loop closed meanwhile: its tasks are gone
