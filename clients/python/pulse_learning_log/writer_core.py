"""The BatchWriters' sans-I/O core: batching, batch ids, retries and loss
accounting, with no threads, no asyncio and no grpc.

The sync :class:`~pulse_learning_log.BatchWriter` (a thread) and the asyncio
one (a task) are thin drivers of one :class:`WriterCore`, in the way h11 and
hyper-h2 keep HTTP apart from sockets: the driver tells the core what
happened (an event was logged, a stream opened, an answer came, the stream
ended with a failure) and asks it what to do next (send this batch, wait
until a time, end the stream, retry after a pause, give these events up);
the driver does the I/O and the waiting. The core owns the buffer and its
bounds, the cutting of batches, the batches in flight, the retry policy
(which failures are retried, for how long, backoff with jitter) and the
count of every event until it is answered or given up, exactly once.

The core is not thread-safe: the sync driver calls it holding its lock, the
asyncio driver from its one event loop. Time comes from ``clock`` and jitter
from ``random``, both injectable, so tests drive it deterministically.
"""

from __future__ import annotations

import collections
import random as _random
import time
from typing import Any, Callable, Deque, Dict, Generic, List, NamedTuple, Optional, Protocol, Set, Tuple, TypeVar, Union

__all__ = [
    "Event",
    "Batch",
    "Send",
    "Wait",
    "EndStream",
    "AckTimeout",
    "Retry",
    "GiveUp",
    "Dropped",
    "ServerLimits",
    "DEFAULT_LIMITS",
    "ProtocolError",
    "WriterCore",
    "FIRST",
    "FULL",
    "QUEUED",
]

#: One buffered event: (event_id, the framed event bytes of an IngestEvents request).
Event = Tuple[str, bytes]

#: Room a request keeps for its batch_id beside the events (a varint and its tag).
BATCH_ID_BYTES_MAX = 16


class ServerLimits(NamedTuple):
    """What the server accepts (its GetServerInfo answer, or the defaults of
    a server too old to tell)."""

    #: Largest gRPC message, in bytes (``--message-bytes-max``).
    message_bytes_max: int
    #: Most events in one batch (``--batch-events-max``).
    batch_events_max: int
    #: Largest record (one JSON line), in bytes (``--record-bytes-max``).
    record_bytes_max: int


#: The server's defaults: what a client assumes until the server tells it
#: otherwise, and what an older server without GetServerInfo enforces unless
#: started with other values.
DEFAULT_LIMITS = ServerLimits(message_bytes_max=4 * 1024 * 1024, batch_events_max=10_000, record_bytes_max=1024 * 1024)


class Failure(Protocol):
    """What the core needs of a failure: whether retrying may help."""

    @property
    def retryable(self) -> bool: ...


F = TypeVar("F", bound=Failure)


class Batch:
    """A batch sent on the stream and not yet answered."""

    __slots__ = ("batch_id", "events", "size", "sent_at")

    def __init__(self, batch_id: int, events: List[Event], size: int, sent_at: float):
        #: Strictly increasing per writer; the server answers batches in order.
        self.batch_id = batch_id
        #: (event_id, framed event bytes), in log order.
        self.events = events
        #: Bytes of the framed events.
        self.size = size
        #: When it was sent (the core's clock), for the ack timeout.
        self.sent_at = sent_at


class Send(NamedTuple):
    """Write this batch on the stream."""

    batch: Batch


class Wait(NamedTuple):
    """Nothing to do before ``until`` (the core's clock; None: until the
    driver has news: an event logged, an answer, a flush, a close)."""

    until: Optional[float]


class EndStream(NamedTuple):
    """Half-close the stream: nothing left to send or await (closing, or
    idle for ``stream_idle_timeout``); the server then ends the call."""

    idle: bool


class AckTimeout(NamedTuple):
    """The oldest batch in flight waited ``seconds`` without an answer:
    abandon the stream (as DEADLINE_EXCEEDED); its batches are resent."""

    batch_id: int
    seconds: float


class Retry(NamedTuple):
    """Open a new stream after ``delay`` seconds (the unanswered batches are resent first)."""

    delay: float


class GiveUp(Generic[F]):
    """The writer has failed for good with ``failure``: call :meth:`WriterCore.fail`, then :meth:`WriterCore.give_up`."""

    __slots__ = ("failure",)

    def __init__(self, failure: F):
        self.failure = failure

    def __repr__(self) -> str:
        return f"GiveUp({self.failure!r})"


class Dropped(NamedTuple):
    """Events given up without an answer, split by what is known of them."""

    #: Sent on a stream that reached the server: they may or may not be in the log.
    sent: List[Event]
    #: Never delivered to a server: they are not in the log.
    never_sent: List[Event]

    @property
    def events(self) -> List[Event]:
        """All of them, the sent ones first."""
        return self.sent + self.never_sent


class ProtocolError(Exception):
    """The server's answer does not fit what was sent (a bug on one side)."""


#: What :meth:`WriterCore.add` says: the buffer had nothing pending before
#: (the sender may be asleep), a batch is now full, or neither.
FIRST, FULL, QUEUED = "first", "full", "queued"

SendStep = Union[Send, Wait, EndStream, AckTimeout]


class WriterCore(Generic[F]):
    """The state machine of one BatchWriter (see the module's doc).

    Parameters are those of :class:`~pulse_learning_log.BatchWriter`, already
    checked; ``clock`` returns monotonic seconds; ``random`` returns a float
    in [0, 1) for the backoff's jitter.
    """

    def __init__(
        self,
        *,
        batch_events_max: int,
        batch_bytes_max: int,
        flush_interval: float,
        batches_in_flight_max: int,
        buffer_events_max: int,
        buffer_bytes_max: int,
        backoff_initial: float,
        backoff_max: float,
        retry_timeout: float,
        ack_timeout: float,
        stream_idle_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ):
        self._events_max_asked = self.batch_events_max = batch_events_max
        self._bytes_max_asked = self.batch_bytes_max = batch_bytes_max
        self.flush_interval = flush_interval
        self.inflight_max = batches_in_flight_max
        self.buffer_events_max = buffer_events_max
        self.buffer_bytes_max = buffer_bytes_max
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_timeout = retry_timeout
        self.ack_timeout = ack_timeout
        self.idle_timeout = stream_idle_timeout
        self.clock = clock
        self._random = random

        self._pending: Deque[Event] = collections.deque()
        self._pending_bytes = 0
        self._pending_since: Optional[float] = None
        self._inflight: Deque[Batch] = collections.deque()
        self._batch_id = 0
        #: Events logged and not yet answered or given up (pending + in flight).
        self.buffered_events = 0
        self.buffered_bytes = 0
        #: Counters (see :meth:`stats`).
        self.logged = 0
        self.done = 0
        self.written = 0
        self.duplicates = 0
        self.batches = 0
        self.retries = 0
        self.dropped = 0
        #: Flushes waiting: batches are sent at once, not when full or due.
        self.flushing = 0
        #: close() was called: no new events; send what is left, then end.
        self.closing = False
        #: The failure that ended the writer, once it has failed.
        self.error: Optional[F] = None
        #: The stream's last failure while no batch has been answered since
        #: (the cause to tell when events are given up or a flush times out).
        self.last_failure: Optional[F] = None
        #: A stream of this writer has reached the server (for the words of a cause).
        self.ever_reached = False
        # Event_ids back in _pending after a stream that reached the server
        # ended without their answer: they may be in the log.
        self._maybe_sent: Set[str] = set()
        self._idle_since = 0.0
        self._failing_since: Optional[float] = None
        self._attempt = 0
        self.limits = DEFAULT_LIMITS

    # -- limits ---------------------------------------------------------------

    def apply_server_limits(self, limits: ServerLimits) -> None:
        """Sizes batches to what the server accepts: the batch caps become
        the smaller of the writer's options and the server's limits. A limit
        the server did not give (0) keeps the default."""
        self.limits = ServerLimits(
            limits.message_bytes_max or DEFAULT_LIMITS.message_bytes_max,
            limits.batch_events_max or DEFAULT_LIMITS.batch_events_max,
            limits.record_bytes_max or DEFAULT_LIMITS.record_bytes_max,
        )
        self.batch_events_max = min(self._events_max_asked, self.limits.batch_events_max)
        self.batch_bytes_max = max(1, min(self._bytes_max_asked, self.limits.message_bytes_max - BATCH_ID_BYTES_MAX))

    # -- the logging side -------------------------------------------------------

    def full(self, size: int) -> bool:
        """True when an event of ``size`` bytes does not fit in the buffer now
        (one event always fits an empty buffer)."""
        return self.buffered_events >= self.buffer_events_max or (self.buffered_events > 0 and self.buffered_bytes + size > self.buffer_bytes_max)

    def add(self, event_id: str, framed: bytes) -> str:
        """Buffers one event (the driver checked :meth:`full`, the size and
        the writer's state); returns :data:`FIRST`, :data:`FULL` or :data:`QUEUED`."""
        size = len(framed)
        was_empty = not self._pending
        self._pending.append((event_id, framed))
        self._pending_bytes += size
        self.buffered_events += 1
        self.buffered_bytes += size
        self.logged += 1
        if was_empty:
            self._pending_since = self.clock()
            return FIRST
        if len(self._pending) == self.batch_events_max or self._pending_bytes >= self.batch_bytes_max:
            return FULL
        return QUEUED

    def flushed(self, target: int) -> bool:
        """True once the first ``target`` events logged are answered or given up."""
        return self.done >= target

    # -- the stream --------------------------------------------------------------

    def wants_stream(self) -> bool:
        """True when a stream should be open: events to send and the writer not failed."""
        return bool(self._pending) and self.error is None

    def finished(self) -> bool:
        """True when the driver's loop is over: failed, or closed with nothing left."""
        return self.error is not None or (self.closing and not self._pending and not self._inflight)

    def stream_opened(self) -> None:
        """A new stream is up: its idle time starts now."""
        self._idle_since = self.clock()

    def next_send(self) -> SendStep:
        """What the sending side of the open stream does now."""
        now = self.clock()
        until: Optional[float] = None
        if self._inflight:
            self._idle_since = now
            oldest = self._inflight[0]
            age = now - oldest.sent_at
            if age >= self.ack_timeout:
                return AckTimeout(oldest.batch_id, self.ack_timeout)
            until = oldest.sent_at + self.ack_timeout
        if self._pending:
            self._idle_since = now
            if len(self._inflight) < self.inflight_max:
                pending_since = self._pending_since
                assert pending_since is not None  # set while anything is pending
                due = (
                    self.closing
                    or self.flushing > 0
                    or len(self._pending) >= self.batch_events_max
                    or self._pending_bytes >= self.batch_bytes_max
                    or now - pending_since >= self.flush_interval
                )
                if due:
                    return Send(self._take_batch(now))
                wake = pending_since + self.flush_interval
                until = wake if until is None else min(until, wake)
        elif not self._inflight:
            if self.closing:
                return EndStream(idle=False)
            idle_end = self._idle_since + self.idle_timeout
            if idle_end <= now:
                return EndStream(idle=True)
            until = idle_end if until is None else min(until, idle_end)
        return Wait(until)

    def _take_batch(self, now: float) -> Batch:
        """Moves the oldest pending events into a new in-flight batch: at most
        ``batch_events_max`` events and ``batch_bytes_max`` bytes, at least one."""
        pending = self._pending
        events_max, bytes_max = self.batch_events_max, self.batch_bytes_max
        events: List[Event]
        if len(pending) <= events_max and self._pending_bytes <= bytes_max:
            # Everything pending fits (the usual case: a batch goes as soon as it is full): moved at once.
            events = list(pending)
            pending.clear()
            size = self._pending_bytes
        else:
            events = []
            size = 0
            while pending and len(events) < events_max:
                event_size = len(pending[0][1])
                if events and size + event_size > bytes_max:
                    break
                events.append(pending.popleft())
                size += event_size
        self._pending_bytes -= size
        if not pending:
            self._pending_since = None
        self._batch_id += 1
        batch = Batch(self._batch_id, events, size, now)
        self._inflight.append(batch)
        return batch

    def on_answer(self, batch_id: int, count: int, duplicates: int, error_indexes: List[int]) -> Batch:
        """The server answered batch ``batch_id`` (``count`` events accepted,
        ``duplicates`` of them already in the log, the events at
        ``error_indexes`` refused): its events are done. Returns the batch;
        :class:`ProtocolError` when the answer fits no batch sent."""
        if not self._inflight or self._inflight[0].batch_id != batch_id:
            expected = self._inflight[0].batch_id if self._inflight else None
            raise ProtocolError(f"answer for batch {batch_id}, expected {expected}")
        batch = self._inflight[0]
        n = len(batch.events)
        for index in error_indexes:
            if not 0 <= index < n:
                raise ProtocolError(f"error index {index} outside batch {batch_id} of {n} events")
        self._inflight.popleft()
        self.buffered_events -= n
        self.buffered_bytes -= batch.size
        self.last_failure = None
        self.ever_reached = True
        self._failing_since = None
        self._attempt = 0
        if self._maybe_sent:
            for event_id, _ in batch.events:
                self._maybe_sent.discard(event_id)
        self.done += n
        self.written += count - duplicates
        self.duplicates += duplicates
        self.batches += 1
        return batch

    def stream_ended(self, *, reached: bool, failure: Optional[F] = None) -> Optional[Union[Retry, GiveUp[F]]]:
        """The stream ended: its unanswered batches go back to the front of
        the buffer, in order, to be resent on the next stream. ``reached``:
        the stream may have delivered them (it was not refused a connection).
        ``failure`` (None: it ended cleanly after the half-close) decides
        what follows: None (carry on), :class:`Retry` (open a new stream
        after its delay) or :class:`GiveUp` (the failure is fatal, or it was
        retried for ``retry_timeout`` without any batch answered)."""
        now = self.clock()
        if failure is not None:
            self.last_failure = failure
        if reached:
            self.ever_reached = True
        if self._inflight:
            if reached:
                self._maybe_sent.update(event_id for batch in self._inflight for event_id, _ in batch.events)
            events = [event for batch in self._inflight for event in batch.events]
            self._pending.extendleft(reversed(events))
            self._pending_bytes += sum(batch.size for batch in self._inflight)
            self._inflight.clear()
            # They have waited already: send them as soon as a stream is up.
            self._pending_since = now - self.flush_interval
        if failure is None:
            return None
        if failure.retryable:
            if self._failing_since is None:
                self._failing_since = now
            if now - self._failing_since < self.retry_timeout:
                self._attempt += 1
                self.retries += 1
                return Retry(self.backoff(self._attempt))
        return GiveUp(failure)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (from 1): doubling from
        ``backoff_initial`` up to ``backoff_max``, times a jitter in [0.5, 1)."""
        ceiling: float = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * self._random())

    # -- the end -----------------------------------------------------------------

    def fail(self, error: F) -> bool:
        """The writer has failed for good (the first error stays); True when
        this call set it."""
        if self.error is not None:
            return False
        self.error = error
        return True

    def give_up(self) -> Dropped:
        """Gives up every event not yet answered (after :meth:`fail`, or an
        abort) and returns them, split into those that may be in the log and
        those never delivered; each event is given up once: the buffer is
        empty afterwards."""
        sent = [event for batch in self._inflight for event in batch.events]
        never: List[Event] = []
        for event in self._pending:
            (sent if event[0] in self._maybe_sent else never).append(event)
        self._maybe_sent.clear()
        self._inflight.clear()
        self._pending.clear()
        self._pending_bytes = 0
        self._pending_since = None
        n = len(sent) + len(never)
        self.buffered_events = 0
        self.buffered_bytes = 0
        self.done += n
        self.dropped += n
        return Dropped(sent, never)

    def stats(self, rejected: int) -> Dict[str, int]:
        """The writers' ``stats()`` (``rejected``: events the server refused, counted by the driver)."""
        return {
            "logged": self.logged,
            "written": self.written,
            "duplicates": self.duplicates,
            "rejected": rejected,
            "dropped": self.dropped,
            "buffered": self.buffered_events,
            "batches": self.batches,
            "retries": self.retries,
        }

    def __repr__(self) -> str:
        return f"<WriterCore pending={len(self._pending)} inflight={len(self._inflight)} done={self.done}/{self.logged} error={self.error!r}>"


def positive(name: str, value: Any, integer: bool = False, upper: Optional[float] = None) -> Any:
    """``value`` when it is a positive number (an integer when ``integer``),
    at most ``upper``; else ``ValueError`` naming the parameter."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}{bound}, got {value!r}")
    return value
