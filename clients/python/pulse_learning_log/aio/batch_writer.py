"""BatchWriter for asyncio: events buffered and streamed in durable batches
over IngestEvents, with ``grpc.aio``, in the running event loop.

The same contract as :class:`pulse_learning_log.BatchWriter`: ``await
writer.log_*(...)`` checks, encodes and buffers an event and returns its
event_id (waiting for room when the buffer is full and ``on_full`` is
``"block"``); a task sends the buffer in batches (full, or
``flush_interval`` after its first event, or at once on flush/close) and
the server answers each batch, in order, once it is durable. A broken stream
is reopened and the unanswered batches resent with the same event_ids
(written once: the server answers a known event_id as a duplicate).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Tuple

import grpc
import grpc.aio
from .._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from ..batch_writer import _positive, rejections_of, report_answer, report_dropped, writer_core
from ..diagnostics import logger
from ..errors import BufferFull, Internal, LearningLogError, error_for, error_from_rpc, never_connected
from .._surfaces import AsyncWriterEvents
from ..events import CATALOG
from ..ingest_wire import INGEST_PATH, batch_request, frame_event
from ..results import BatchAck, Rejection
from ..writer_core import QUEUED, AckTimeout, EndStream, ProtocolError, Retry, Send
from .client import LearningLogClient
from .connection import AsyncConnection

__all__ = ["BatchWriter"]


class _StreamFailed(Exception):
    """The stream ended with a status (its typed error inside)."""

    def __init__(self, error: LearningLogError):
        super().__init__(str(error))
        self.error = error


class BatchWriter(AsyncWriterEvents):
    """Buffers events and streams them to the server in durable batches (asyncio).

    ``async with BatchWriter(...) as writer:`` (or :meth:`start` and
    :meth:`close`). The parameters are those of
    :class:`pulse_learning_log.BatchWriter` (``client`` is an asyncio
    :class:`~pulse_learning_log.aio.LearningLogClient`), but there is no
    ``exit_timeout``: close it before its event loop ends. Callbacks run in
    the event loop; they must be quick and must not await the writer.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        client: Optional[LearningLogClient] = None,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
        batch_events_max: int = 1000,
        batch_bytes_max: int = 2 * 1024 * 1024,
        flush_interval: float = 0.05,
        batches_in_flight_max: int = 8,
        buffer_events_max: int = 100_000,
        buffer_bytes_max: int = 64 * 1024 * 1024,
        on_full: str = "block",
        block_timeout: Optional[float] = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        retry_timeout: float = 120.0,
        ack_timeout: float = 30.0,
        stream_idle_timeout: float = 1.0,
        on_rejected: Optional[Callable[[Rejection], None]] = None,
        on_batch_acked: Optional[Callable[[BatchAck], None]] = None,
        on_dropped: Optional[Callable[[Rejection], None]] = None,
    ):
        #: Batching, retries and loss accounting (used from the event loop only).
        self._core = writer_core(
            batch_events_max, batch_bytes_max, flush_interval, batches_in_flight_max, buffer_events_max, buffer_bytes_max,
            backoff_initial, backoff_max, retry_timeout, ack_timeout, stream_idle_timeout,
        )  # fmt: skip
        if on_full not in ("block", "raise"):
            raise ValueError(f'on_full must be "block" or "raise", got {on_full!r}')
        self._raise_when_full = on_full == "raise"
        self._block_timeout: Optional[float] = None if block_timeout is None else _positive("block_timeout", block_timeout)
        self._on_rejected = on_rejected
        self._on_batch_acked = on_batch_acked
        self._on_dropped = on_dropped
        if client is not None:
            if target is not None or token is not None or credentials is not None:
                raise ValueError("give either client or target/token/credentials, not both")
            self._conn: AsyncConnection = client.connection
            self._owns_connection = False
        else:
            self._conn = AsyncConnection(target, token=token, credentials=credentials, backoff_max=backoff_max)
            self._owns_connection = True
        self._ingest = self._conn.channel.stream_stream(INGEST_PATH, request_serializer=None, response_deserializer=pb.IngestEventsResponse.FromString)

        self._cond = asyncio.Condition()
        self._closed = False
        self._task: Optional["asyncio.Task[None]"] = None
        #: The batch caps follow the server's limits (asked when the task starts).
        self._limits_learnt = False
        #: Every event the server refused, as :class:`Rejection` tuples.
        self.rejected: List[Rejection] = []

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Starts the sending task in the running event loop (``async with`` and the first log call do it)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pulse-learning-log-aio-batch-writer")

    async def __aenter__(self) -> "BatchWriter":
        self.start()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.close()
            return
        try:
            await self.close()
        except Exception as err:  # noqa: BLE001 - the block's own exception propagates
            logger.error("BatchWriter.close failed after an exception in the async with block: %s", err)

    async def flush(self, timeout: Optional[float] = None) -> None:
        """Returns once every event logged before the call is answered
        (durable, or rejected); the fatal error if the writer failed;
        ``TimeoutError`` after ``timeout`` seconds."""
        self.start()
        core = self._core
        async with self._cond:
            target = core.logged
            core.flushing += 1
            self._cond.notify_all()
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: core.flushed(target) or core.error is not None), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"flush: {target - core.done} events still not durable after {timeout} s") from None
            finally:
                core.flushing -= 1
            self._raise_if_failed()

    async def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, ends the stream and stops the task; later log calls raise.
        The fatal error if the writer failed; ``TimeoutError`` after ``timeout``."""
        async with self._cond:
            self._core.closing = True
            self._cond.notify_all()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"close: {self._core.buffered_events} events still not durable after {timeout} s") from None
        if not self._closed:
            self._closed = True
            if self._owns_connection:
                await self._conn.close()
        self._raise_if_failed()

    async def abort(self) -> None:
        """Stops at once; events not answered are dropped (logged, ``on_dropped``). Later calls raise CANCELLED."""
        self._core.fail(error_for(grpc.StatusCode.CANCELLED, "BatchWriter aborted"))
        self._core.closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._drop_unanswered("on abort()", counted=False)
        if not self._closed:
            self._closed = True
            if self._owns_connection:
                await self._conn.close()

    @property
    def buffered(self) -> int:
        """Events logged and not yet answered."""
        return self._core.buffered_events

    @property
    def error(self) -> Optional[LearningLogError]:
        """The fatal error, once the writer has failed."""
        return self._core.error

    def stats(self) -> Dict[str, int]:
        """Counters, as the sync writer's ``stats()``."""
        return self._core.stats(len(self.rejected))

    def _raise_if_failed(self) -> None:
        error = self._core.error
        if error is not None:
            raise error_for(error.code, error.details, error.field_violations) from error

    # -- logging ------------------------------------------------------------

    async def _add(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> str:
        """The generic log method: checks, encodes and buffers one event of the row ``method``."""
        event_id_out, event = CATALOG[method].event_bytes(args, event_id)
        framed = frame_event(event, self._conn.event_run())
        size = len(framed)
        core = self._core
        if size > core.batch_bytes_max:
            raise ValueError(f"event of {size} bytes is larger than batch_bytes_max ({core.batch_bytes_max})")
        self.start()
        async with self._cond:
            self._raise_if_failed()
            if core.closing:
                raise RuntimeError("BatchWriter is closed")
            if core.full(size):
                if self._raise_when_full:
                    raise BufferFull(f"buffer full ({core.buffered_events} events, {core.buffered_bytes} bytes)")
                try:
                    await asyncio.wait_for(self._cond.wait_for(lambda: not core.full(size) or core.error is not None or core.closing), self._block_timeout)
                except asyncio.TimeoutError:
                    raise BufferFull(f"buffer still full after {self._block_timeout} s ({core.buffered_events} events)") from None
                self._raise_if_failed()
                if core.closing:
                    raise RuntimeError("BatchWriter is closed")
            if core.add(event_id_out, framed) is not QUEUED:
                self._cond.notify_all()
        return event_id_out

    # The log_* coroutines (one per row of events.CATALOG, each calling _add)
    # are generated into AsyncWriterEvents.

    # -- the sending task: the I/O the core asks for ---------------------------

    async def _run(self) -> None:
        """Opens a stream whenever there is something to send, and reopens it
        after a retryable failure (resending what was not answered)."""
        core = self._core
        try:
            while True:
                if not self._limits_learnt:
                    # The server's limits, asked once per connection: the batch caps follow them.
                    limits = await self._conn.server_limits()
                    if limits is not None:
                        core.apply_server_limits(limits)
                        self._limits_learnt = True
                async with self._cond:
                    await self._cond.wait_for(lambda: core.wants_stream() or core.finished())
                    if core.finished():
                        return
                    core.stream_opened()
                failure: Optional[LearningLogError] = None
                try:
                    await self._stream()  # ends after our half-close (idle or closing)
                except _StreamFailed as failed:
                    failure = failed.error
                step = core.stream_ended(reached=failure is None or not never_connected(failure), failure=failure)
                self._notify()
                if step is None:
                    continue
                if isinstance(step, Retry):
                    assert failure is not None
                    logger.info("IngestEvents stream failed (%s: %s); retrying", failure.code.name, failure.details)
                    await asyncio.sleep(step.delay)
                    continue
                self._fail(step.failure)
                return
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # noqa: BLE001 - the task must report, not die silently
            self._fail(Internal(f"BatchWriter task failed: {err!r}"))

    async def _stream(self) -> None:
        """One IngestEvents call: a sender and a reader; raises _StreamFailed."""
        call = self._ingest(metadata=self._conn.metadata)
        reader = asyncio.ensure_future(self._read(call))
        sender = asyncio.ensure_future(self._send(call))
        try:
            done, _ = await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_EXCEPTION)
            if sender in done and sender.exception() is None:
                await reader  # half-closed: the server answers the rest, then ends the call
            else:
                for task in done:
                    if task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        except _StreamFailed:
            raise
        except grpc.RpcError as err:
            raise _StreamFailed(error_from_rpc(err)) from err
        finally:
            for task in (reader, sender):
                if not task.done():
                    task.cancel()
            call.cancel()

    async def _send(self, call: Any) -> None:
        """Writes batches as the core makes them due; half-closes when it says so."""
        core = self._core
        while True:
            async with self._cond:
                while True:
                    if core.error is not None:
                        return
                    step = core.next_send()
                    if isinstance(step, (Send, EndStream)):
                        break
                    if isinstance(step, AckTimeout):
                        raise _StreamFailed(error_for(grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer to batch {step.batch_id} within {step.seconds} s"))
                    timeout = None if step.until is None else max(0.0, step.until - core.clock())
                    try:
                        await asyncio.wait_for(self._cond.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
            if isinstance(step, EndStream):
                await call.done_writing()
                return
            await call.write(batch_request(step.batch.batch_id, [framed for _, framed in step.batch.events]))

    async def _read(self, call: Any) -> None:
        """Reads the answers, in order, until the call ends."""
        core = self._core
        while True:
            response = await call.read()
            if response is grpc.aio.EOF:
                return
            async with self._cond:
                try:
                    batch = core.on_answer(response.batch_id, response.count, response.duplicates, [e.index for e in response.errors])
                except ProtocolError as err:
                    raise _StreamFailed(Internal(f"IngestEvents: {err}")) from err
                rejections = rejections_of(batch, response)
                self.rejected.extend(rejections)
                self._cond.notify_all()
            report_answer(batch, response, rejections, self._on_rejected, self._on_batch_acked)

    def _notify(self) -> None:
        # Wakes waiters without awaiting the condition's lock: the loop is one
        # thread, so the state is consistent here; waiters re-check on wake.
        async def wake() -> None:
            async with self._cond:
                self._cond.notify_all()

        asyncio.ensure_future(wake())

    def _fail(self, error: LearningLogError) -> None:
        self._core.fail(error)
        logger.error("BatchWriter failed: %s", error)
        self._drop_unanswered("after the writer failed", counted=True)

    def _drop_unanswered(self, why: str, counted: bool) -> None:
        """Gives up every event not yet answered and reports them (see
        :func:`~pulse_learning_log.batch_writer.report_dropped`); ``counted``
        (after a failure): in the process's loss ledger too."""
        core = self._core
        failure = core.last_failure or core.error
        dropped = core.give_up()
        self._notify()
        report_dropped(dropped, failure, why, counted, core.ever_reached, self._conn.target, self._on_dropped)
