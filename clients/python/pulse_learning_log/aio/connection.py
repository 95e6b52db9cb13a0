"""One ``grpc.aio`` channel with the call options every RPC shares (the
same :class:`~pulse_learning_log.connection.CallOptions` and retry policy
as the sync client), for coroutines."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Optional, TypeVar

import grpc
import grpc.aio

from .._gen.pulse.learninglog.v1 import learning_log_pb2 as pb
from ..connection import SERVER_INFO_PATH, CallOptions, Deadline
from ..errors import LearningLogError, error_from_rpc
from ..runs import Hold
from ..writer_core import ServerLimits
from .run_hold import AsyncRunHold

__all__ = ["AsyncConnection"]

T = TypeVar("T")


class AsyncConnection(CallOptions):
    """A ``grpc.aio`` channel plus the call options (see :class:`CallOptions`
    for the parameters). Use it from one event loop."""

    def __init__(self, target: Optional[str] = None, **options: Any):
        super().__init__(target, **options)
        if self.credentials is not None:
            self.channel = grpc.aio.secure_channel(self.target, self.credentials, options=self.channel_options)
        else:
            self.channel = grpc.aio.insecure_channel(self.target, options=self.channel_options)

    async def retrying(self, attempt: Callable[[Optional[float]], Awaitable[T]], deadline: Deadline, *, idempotent: bool) -> T:
        """:meth:`Connection.retrying` for coroutines: one deadline over every attempt."""
        number = 1
        while True:
            try:
                return await attempt(self.time_for_attempt(deadline, number))
            except LearningLogError as err:
                await asyncio.sleep(self.pause_before_retry(err, deadline, number, idempotent))
                number += 1

    async def server_limits(self) -> Optional[ServerLimits]:
        """:meth:`Connection.server_limits` for coroutines: asked once per connection."""
        if self._limits is not None:
            return self._limits
        call = self.channel.unary_unary(SERVER_INFO_PATH, request_serializer=pb.GetServerInfoRequest.SerializeToString, response_deserializer=pb.GetServerInfoResponse.FromString)
        try:
            response = await call(pb.GetServerInfoRequest(), timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            return self._limits_answer(None, error_from_rpc(err))
        return self._limits_answer(response, None)

    async def unary(self, method: Callable[..., Any], request: Any, *, idempotent: bool, timeout: Optional[float] = None) -> Any:
        """Calls a unary ``method`` of a ``grpc.aio`` stub within one deadline
        (``timeout``, default the connection's) covering every attempt."""

        metadata = self.call_metadata()  # one run for every attempt

        async def attempt(left: Optional[float]) -> Any:
            try:
                return await method(request, timeout=left, metadata=metadata)
            except grpc.RpcError as err:
                raise error_from_rpc(err) from err

        return await self.retrying(attempt, self.deadline(timeout), idempotent=idempotent)

    def _start_hold(self, run: str) -> Hold:
        return AsyncRunHold(self.channel, self.metadata, run)

    async def close(self) -> None:
        """Ends the run's hold and closes the channel; calls in progress are cancelled."""
        self.end_hold()
        await self.channel.close()
