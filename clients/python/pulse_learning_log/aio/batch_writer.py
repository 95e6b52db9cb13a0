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
import collections
import random
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import grpc
import grpc.aio
from .._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from ..batch_writer import _MESSAGE_BYTES_MAX, _positive
from ..diagnostics import logger
from ..errors import BufferFull, Internal, LearningLogError, describe_failure, error_for, error_from_rpc, is_retryable, status_code
from ..events import CATALOG
from ..ingest_wire import INGEST_PATH, SERVER_BATCH_EVENTS_MAX, batch_redactions, batch_request, frame_event, unframe_event
from ..loss import ledger
from ..results import BatchAck, Rejection, batch_ack
from .client import LearningLogClient
from .connection import AsyncConnection

__all__ = ["BatchWriter"]

# (event_id, framed event bytes)
_Event = Tuple[str, bytes]


class _Batch:
    __slots__ = ("batch_id", "events", "size", "sent_at")

    def __init__(self, batch_id: int, events: List[_Event], size: int, sent_at: float):
        self.batch_id = batch_id
        self.events = events
        self.size = size
        self.sent_at = sent_at


class _StreamFailed(Exception):
    """The stream ended with a status (its typed error inside)."""

    def __init__(self, error: LearningLogError):
        super().__init__(str(error))
        self.error = error


class BatchWriter:
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
        self._batch_events_max: int = _positive("batch_events_max", batch_events_max, True, SERVER_BATCH_EVENTS_MAX)
        self._batch_bytes_max: int = _positive("batch_bytes_max", batch_bytes_max, True, _MESSAGE_BYTES_MAX)
        self._flush_interval: float = _positive("flush_interval", flush_interval)
        self._inflight_max: int = _positive("batches_in_flight_max", batches_in_flight_max, True)
        self._buffer_events_max: int = _positive("buffer_events_max", buffer_events_max, True)
        self._buffer_bytes_max: int = _positive("buffer_bytes_max", buffer_bytes_max, True)
        if on_full not in ("block", "raise"):
            raise ValueError(f'on_full must be "block" or "raise", got {on_full!r}')
        self._raise_when_full = on_full == "raise"
        self._block_timeout: Optional[float] = None if block_timeout is None else _positive("block_timeout", block_timeout)
        self._backoff_initial: float = _positive("backoff_initial", backoff_initial)
        self._backoff_max: float = _positive("backoff_max", backoff_max)
        self._retry_timeout: float = _positive("retry_timeout", retry_timeout)
        self._ack_timeout: float = _positive("ack_timeout", ack_timeout)
        self._idle_timeout: float = _positive("stream_idle_timeout", stream_idle_timeout)
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
        self._pending: Deque[_Event] = collections.deque()
        self._pending_bytes = 0
        self._pending_since: Optional[float] = None
        self._inflight: Deque[_Batch] = collections.deque()
        self._buffered_events = 0
        self._buffered_bytes = 0
        self._counts: Dict[str, int] = dict.fromkeys(("logged", "done", "written", "duplicates", "batches", "retries", "dropped"), 0)
        self._batch_id = 0
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._error: Optional[LearningLogError] = None
        self._task: Optional["asyncio.Task[None]"] = None
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
        async with self._cond:
            target = self._counts["logged"]
            self._flushing += 1
            self._cond.notify_all()
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self._counts["done"] >= target or self._error is not None), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"flush: {target - self._counts['done']} events still not durable after {timeout} s") from None
            finally:
                self._flushing -= 1
            self._raise_if_failed()

    async def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, ends the stream and stops the task; later log calls raise.
        The fatal error if the writer failed; ``TimeoutError`` after ``timeout``."""
        async with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"close: {self._buffered_events} events still not durable after {timeout} s") from None
        if not self._closed:
            self._closed = True
            if self._owns_connection:
                await self._conn.close()
        self._raise_if_failed()

    async def abort(self) -> None:
        """Stops at once; events not answered are dropped (logged, ``on_dropped``). Later calls raise CANCELLED."""
        if self._error is None:
            self._error = error_for(grpc.StatusCode.CANCELLED, "BatchWriter aborted")
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._drop_unanswered()
        if not self._closed:
            self._closed = True
            if self._owns_connection:
                await self._conn.close()

    @property
    def buffered(self) -> int:
        """Events logged and not yet answered."""
        return self._buffered_events

    @property
    def error(self) -> Optional[LearningLogError]:
        """The fatal error, once the writer has failed."""
        return self._error

    def stats(self) -> Dict[str, int]:
        """Counters, as the sync writer's ``stats()``."""
        c = self._counts
        return {
            "logged": c["logged"],
            "written": c["written"],
            "duplicates": c["duplicates"],
            "rejected": len(self.rejected),
            "dropped": c["dropped"],
            "buffered": self._buffered_events,
            "batches": c["batches"],
            "retries": c["retries"],
        }

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise error_for(self._error.code, self._error.details, self._error.field_violations) from self._error

    # -- logging ------------------------------------------------------------

    async def _add(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> str:
        """The generic log method: checks, encodes and buffers one event of the row ``method``."""
        entry = CATALOG[method]
        message = entry.request(args, event_id)
        framed = frame_event(entry.encode(message), self._conn.event_run())
        size = len(framed)
        if size > self._batch_bytes_max:
            raise ValueError(f"event of {size} bytes is larger than batch_bytes_max ({self._batch_bytes_max})")
        self.start()
        async with self._cond:
            self._raise_if_failed()
            if self._closing:
                raise RuntimeError("BatchWriter is closed")
            if self._full(size):
                if self._raise_when_full:
                    raise BufferFull(f"buffer full ({self._buffered_events} events, {self._buffered_bytes} bytes)")
                try:
                    await asyncio.wait_for(self._cond.wait_for(lambda: not self._full(size) or self._error is not None or self._closing), self._block_timeout)
                except asyncio.TimeoutError:
                    raise BufferFull(f"buffer still full after {self._block_timeout} s ({self._buffered_events} events)") from None
                self._raise_if_failed()
                if self._closing:
                    raise RuntimeError("BatchWriter is closed")
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append((message.event_id, framed))
            self._pending_bytes += size
            self._buffered_events += 1
            self._buffered_bytes += size
            self._counts["logged"] += 1
            self._cond.notify_all()
        event_id_out: str = message.event_id
        return event_id_out

    def _full(self, size: int) -> bool:
        return self._buffered_events >= self._buffer_events_max or (self._buffered_events > 0 and self._buffered_bytes + size > self._buffer_bytes_max)

    # One thin wrapper per row of events.CATALOG, as in the sync writer.

    async def log_event(self, event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> str:
        """Buffers a free-form event; returns its event_id."""
        return await self._add("log_event", (event_type, data, context), event_id)

    async def log_variable_weight_change(self, var: str, old_weight: float, new_weight: float, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``variable_weight_update``; returns its event_id."""
        return await self._add("log_variable_weight_change", (var, old_weight, new_weight), event_id)

    async def log_symbolic_upgrade(self, plan: Dict[str, Any], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_upgrade_applied``; returns its event_id."""
        return await self._add("log_symbolic_upgrade", (plan,), event_id)

    async def log_revision_trigger(self, reason: str, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_revision_triggered``; returns its event_id."""
        return await self._add("log_revision_trigger", (reason,), event_id)

    async def log_arc_regret(self, scores: Dict[str, float], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_arc_regret``; returns its event_id."""
        return await self._add("log_arc_regret", (scores,), event_id)

    async def log_learning_summary(self, summary: Dict[str, Any], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``meta_learning_summary``; returns its event_id."""
        return await self._add("log_learning_summary", (summary,), event_id)

    async def log_rule_activation(
        self,
        rule_id: str,
        variable_id: str,
        outcome: Any,
        forecast_id: Optional[str] = None,
        success: Optional[bool] = None,
        *,
        event_id: Optional[str] = None,
    ) -> str:
        """Buffers a ``rule_activation``; returns its event_id."""
        return await self._add("log_rule_activation", (rule_id, variable_id, outcome, forecast_id, success), event_id)

    async def log_bayesian_trust_metrics(self, key: str, kind: str = "variable", *, event_id: Optional[str] = None) -> str:
        """Buffers a ``bayesian_trust_metrics`` (the server reads the metrics
        when it writes the batch); returns its event_id."""
        return await self._add("log_bayesian_trust_metrics", (key, kind), event_id)

    async def log_rule_effectiveness(self, rule_id: str, activation_count: int, success_rate: float, impact_score: float, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``rule_effectiveness``; returns its event_id."""
        return await self._add("log_rule_effectiveness", (rule_id, activation_count, success_rate, impact_score), event_id)

    # -- the sending task ---------------------------------------------------

    async def _run(self) -> None:
        """Opens a stream whenever there is something to send, and reopens it
        after a retryable failure (resending what was not answered)."""
        failing_since: Optional[float] = None
        attempt = 0
        try:
            while True:
                async with self._cond:
                    await self._cond.wait_for(lambda: bool(self._pending) or self._closing or self._error is not None)
                    if self._error is not None or (self._closing and not self._pending and not self._inflight):
                        return
                answered = self._counts["batches"]
                try:
                    await self._stream()
                    continue  # ended after our half-close (idle or closing)
                except _StreamFailed as failed:
                    error = failed.error
                finally:
                    self._requeue_unanswered()
                if self._counts["batches"] > answered:
                    failing_since, attempt = None, 0
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if not is_retryable(error.code, error.details) or now - failing_since >= self._retry_timeout:
                    self._fail(error)
                    return
                attempt += 1
                self._counts["retries"] += 1
                logger.info("IngestEvents stream failed (%s: %s); retrying", error.code.name, error.details)
                delay = min(self._backoff_max, self._backoff_initial * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + 0.5 * random.random()))
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
        """Writes batches as they become due; half-closes when idle or closing."""
        idle_since = time.monotonic()
        while True:
            async with self._cond:
                while True:
                    if self._error is not None:
                        return
                    now = time.monotonic()
                    timeout: Optional[float] = None
                    if self._inflight:
                        idle_since = now
                        age = now - self._inflight[0].sent_at
                        if age >= self._ack_timeout:
                            raise _StreamFailed(error_for(grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer to batch {self._inflight[0].batch_id} within {self._ack_timeout} s"))
                        timeout = self._ack_timeout - age
                    if self._pending:
                        idle_since = now
                        if len(self._inflight) < self._inflight_max:
                            assert self._pending_since is not None
                            due = (
                                self._closing
                                or self._flushing > 0
                                or len(self._pending) >= self._batch_events_max
                                or self._pending_bytes >= self._batch_bytes_max
                                or now - self._pending_since >= self._flush_interval
                            )
                            if due:
                                batch = self._take_batch(now)
                                break
                            left = self._pending_since + self._flush_interval - now
                            timeout = left if timeout is None else min(timeout, left)
                    elif self._closing and not self._inflight:
                        await call.done_writing()
                        return
                    elif not self._inflight:
                        left = idle_since + self._idle_timeout - now
                        if left <= 0:
                            await call.done_writing()
                            return
                        timeout = left if timeout is None else min(timeout, left)
                    try:
                        await asyncio.wait_for(self._cond.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
            await call.write(batch_request(batch.batch_id, [framed for _, framed in batch.events]))

    async def _read(self, call: Any) -> None:
        """Reads the answers, in order, until the call ends."""
        while True:
            response = await call.read()
            if response is grpc.aio.EOF:
                return
            async with self._cond:
                self._on_response(response)
                self._cond.notify_all()

    def _take_batch(self, now: float) -> _Batch:
        events: List[_Event] = []
        size = 0
        while self._pending and len(events) < self._batch_events_max:
            event_size = len(self._pending[0][1])
            if events and size + event_size > self._batch_bytes_max:
                break
            events.append(self._pending.popleft())
            size += event_size
        self._pending_bytes -= size
        if not self._pending:
            self._pending_since = None
        self._batch_id += 1
        batch = _Batch(self._batch_id, events, size, now)
        self._inflight.append(batch)
        return batch

    def _on_response(self, response: Any) -> None:
        if not self._inflight or self._inflight[0].batch_id != response.batch_id:
            expected = self._inflight[0].batch_id if self._inflight else None
            raise _StreamFailed(Internal(f"IngestEvents: answer for batch {response.batch_id}, expected {expected}"))
        batch = self._inflight.popleft()
        n = len(batch.events)
        rejections = []
        for e in response.errors:
            if e.index >= n:
                raise _StreamFailed(Internal(f"IngestEvents: error index {e.index} outside batch {batch.batch_id} of {n} events"))
            event_id, framed = batch.events[e.index]
            rejections.append(Rejection(event_id, status_code(e.code), e.message, unframe_event(framed)))
        self._buffered_events -= n
        self._buffered_bytes -= batch.size
        c = self._counts
        c["done"] += n
        c["written"] += response.count - response.duplicates
        c["duplicates"] += response.duplicates
        c["batches"] += 1
        self.rejected.extend(rejections)
        for rejection in rejections:
            logger.error("the server refused event %s (%s: %s); it was not written", rejection.event_id, rejection.code.name, rejection.message)
            self._callback(self._on_rejected, rejection)
        redactions = batch_redactions(batch.events, response)  # warns
        if self._on_batch_acked is not None:
            self._callback(self._on_batch_acked, batch_ack(batch.batch_id, n, response, tuple(rejections), redactions))

    def _notify(self) -> None:
        # Wakes waiters without awaiting the condition's lock: the loop is one
        # thread, so the state is consistent here; waiters re-check on wake.
        async def wake() -> None:
            async with self._cond:
                self._cond.notify_all()

        asyncio.ensure_future(wake())

    @staticmethod
    def _callback(callback: Optional[Callable[[Any], None]], value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - a user callback must not stop the writer
            logger.exception("BatchWriter callback failed")

    def _requeue_unanswered(self) -> None:
        """The call ended: unanswered batches go back to the front of the buffer, in order, to be resent."""
        if self._inflight:
            events = [event for batch in self._inflight for event in batch.events]
            self._pending.extendleft(reversed(events))
            self._pending_bytes += sum(batch.size for batch in self._inflight)
            self._inflight.clear()
            self._pending_since = time.monotonic() - self._flush_interval
        self._notify()

    def _fail(self, error: LearningLogError) -> None:
        if self._error is None:
            self._error = error
        logger.error("BatchWriter failed: %s", error)
        self._drop_unanswered(counted=True)

    def _drop_unanswered(self, counted: bool = False) -> None:
        """Gives up every event not yet answered: logged, passed to
        ``on_dropped`` and, after a failure (``counted``), to the process's
        loss ledger (exit status, see :mod:`pulse_learning_log.loss`); all
        counted as sent without an answer: this writer does not tell the
        events a stream never delivered apart."""
        error = self._error
        events = [event for batch in self._inflight for event in batch.events]
        events.extend(self._pending)
        self._inflight.clear()
        self._pending.clear()
        self._pending_bytes = 0
        self._buffered_events = 0
        self._buffered_bytes = 0
        self._counts["done"] += len(events)
        self._counts["dropped"] += len(events)
        self._notify()
        if not events or error is None:
            return
        cause = describe_failure(error)
        logger.error(
            "BatchWriter gave up %d events without an answer (%s); they may or may not be in the log. First event_ids: %s",
            len(events),
            cause,
            ", ".join(event_id for event_id, _ in events[:5]),
        )
        if counted:
            ledger.record(0, len(events), cause)
        for event_id, framed in events:
            self._callback(self._on_dropped, Rejection(event_id, error.code, error.details, unframe_event(framed)))
