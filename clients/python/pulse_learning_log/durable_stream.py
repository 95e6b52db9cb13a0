"""One long-lived IngestEvents stream that one-at-a-time durable calls share.

A unary call costs grpc a new call each time (headers, a completion queue
round, a thread hand-off); on the stream, a call is one small message out
and one in. Each call sends its event as a batch of one with its own
batch_id and waits for the answer to that batch only, so calls from many
threads are in flight together and none waits for another's ack.

The stream opens on the first call and ends itself after ``idle_timeout``
seconds with nothing in flight (the next call opens a new one). When it
breaks, the calls waiting on it fail with the stream's status; a retryable
one is sent again by its caller on a new stream with the same event_id, so
the server writes it once (see :meth:`Connection.retrying`). The whole call,
resends included, is bounded by one deadline.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .connection import Connection, Deadline
from .diagnostics import note_redaction_reasons
from .errors import DeadlineExceeded, FieldViolation, LearningLogError, ResourceExhausted, Unavailable, error_for, error_from_rpc, status_code
from .events import Event
from .ingest_wire import INGEST_PATH, batch_request, frame_event
from .results import Ack

__all__ = ["DurableStream"]

# What a waiting call gets: the answer to its batch, or why there is none.
_Outcome = Union[pb.IngestEventsResponse, LearningLogError]

# Room a batch of one keeps for its batch_id beside the event.
_BATCH_ID_BYTES_MAX = 16

# The longest a waiting call sleeps before checking that someone reads the stream.
_FOLLOWER_WAIT_S = 1.0

# How long the watchdog sleeps when no call is reading (it wakes sooner
# when a reader with an earlier deadline starts).
_WATCHDOG_IDLE_S = 1.0


class _Waiter:
    """One call waiting for the answer to its batch. ``wake`` is set when
    the answer (or a failure) is in ``outcome``, or when the call is asked to
    take over reading the stream."""

    __slots__ = ("wake", "outcome")

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.outcome: Optional[_Outcome] = None


class _Call:
    """One IngestEvents call: its request queue, the calls waiting on it, and
    who reads its answers. All fields are guarded by the owner's lock."""

    def __init__(self, owner: "DurableStream"):
        self.owner = owner
        self.requests: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        #: batch_id -> the call waiting for its answer.
        self.waiters: Dict[int, _Waiter] = {}
        #: No more requests go on this call.
        self.closed = False
        #: A waiting call is reading the answers (at most one at a time).
        self.reading = False
        #: The watchdog cancelled the call: a reader's deadline passed.
        self.timed_out = False
        self.rpc: Any = owner._method(self._request_stream(), metadata=owner._conn.metadata)

    def _request_stream(self) -> Iterator[bytes]:
        """The requests (run on grpc's thread). Ends (half-closes) once the
        call is closed, or after the idle timeout with nothing in flight."""
        owner = self.owner
        while True:
            try:
                request = self.requests.get(timeout=owner.idle_timeout)
            except queue.Empty:
                with owner._lock:
                    if self.closed or (not self.waiters and self.requests.empty()):
                        self.closed = True
                        return
                continue
            if request is None:
                return
            yield request

    def fail(self, failure: LearningLogError) -> None:
        """The call ended (lock held): every waiting call gets ``failure``."""
        self.closed = True
        for waiter in self.waiters.values():
            waiter.outcome = failure
            waiter.wake.set()
        self.waiters.clear()
        self.requests.put(None)  # ends the request stream if it is still waiting


class DurableStream:
    """Durable one-event calls over one shared IngestEvents stream. Thread-safe.

    There is no reader thread: a waiting call reads the stream's answers
    itself (handing each to the call it belongs to), one call at a time,
    and passes the reading on when its own answer has come. A lone caller
    thus waits on grpc directly, with no thread hand-off. A watchdog thread
    cancels the stream when the reading call's deadline passes (a server
    that accepts but never answers); the other waiting calls then resend on
    a new stream, with the same event_ids.

    :param connection: the channel, token and call options (timeout, retries) to use.
    :param idle_timeout: seconds with nothing in flight after which the
        stream ends itself (a new one opens on the next call). Default 5.
    """

    def __init__(self, connection: Connection, *, idle_timeout: float = 5.0):
        self._conn = connection
        self.idle_timeout = idle_timeout
        self._method = connection.channel.stream_stream(
            INGEST_PATH,
            request_serializer=None,  # requests are assembled as bytes
            response_deserializer=pb.IngestEventsResponse.FromString,
        )
        self._lock = threading.Lock()
        self._call: Optional[_Call] = None
        self._batch_id = 0
        self._closed = False
        self._pid = os.getpid()
        # The watchdog: the reading call's deadline (monotonic), if any.
        self._watch = threading.Condition(threading.Lock())
        self._reader_deadline: Optional[float] = None
        self._reader_call: Optional[_Call] = None
        self._watchdog_wakes_at = 0.0
        self._watchdog: Optional[threading.Thread] = None

    def log(self, entry: Event, args: Tuple[Any, ...], event_id: Optional[str], timeout: Optional[float] = None) -> Ack:
        """Checks and sends one event of row ``entry`` and returns its
        :class:`Ack` once it is durable; retries (same event_id) within one
        deadline of ``timeout`` seconds (default the connection's)."""
        given_id, event = entry.event_bytes(args, event_id)
        framed = frame_event(event, self._conn.event_run())
        # The server's limit when this connection knows it already (a
        # BatchWriter on it asked), else its default: not worth a call here.
        message_bytes_max = self._conn.known_limits.message_bytes_max
        if len(framed) > message_bytes_max - _BATCH_ID_BYTES_MAX:
            # Refused here: sent, it would end the stream for every call on it.
            raise ResourceExhausted(f"event of {len(framed)} bytes is larger than max message size ({message_bytes_max} bytes); not sent")
        prefix = f"events[0].{entry.case}."
        deadline = self._conn.deadline(timeout)
        return self._conn.retrying(lambda left: self._attempt(given_id, framed, prefix, deadline), deadline, idempotent=True)

    def _attempt(self, event_id: str, framed: bytes, prefix: str, deadline: Deadline) -> Ack:
        waiter = _Waiter()
        with self._lock:
            if self._closed:
                raise error_for(grpc.StatusCode.CANCELLED, "the client is closed")
            if self._pid != os.getpid():
                raise error_for(grpc.StatusCode.FAILED_PRECONDITION, "this client was made in another process (before a fork); make a new one in this process")
            call = self._call
            if call is None or call.closed:
                call = self._call = _Call(self)
            self._batch_id += 1
            batch_id = self._batch_id
            call.waiters[batch_id] = waiter
            call.requests.put(batch_request(batch_id, (framed,)))
        outcome = self._wait(call, batch_id, waiter, deadline)
        if isinstance(outcome, LearningLogError):
            raise outcome
        if outcome.errors:
            raise _event_error(outcome.errors[0], prefix)
        redacted: Tuple[str, ...] = tuple(outcome.redactions[0].fields) if outcome.redactions else ()
        if outcome.redactions:
            note_redaction_reasons(outcome.redactions[0].details)
        return Ack(event_id, int(outcome.first_seq), outcome.timestamp or None, redacted, outcome.duplicates > 0)

    def _wait(self, call: _Call, batch_id: int, waiter: _Waiter, deadline: Deadline) -> _Outcome:
        """Waits for the answer to ``batch_id``, reading the stream when no
        other call is."""
        while True:
            with self._lock:
                if waiter.outcome is not None:
                    return waiter.outcome
                waiter.wake.clear()
                if deadline.expired():
                    call.waiters.pop(batch_id, None)
                    if not call.reading and call.waiters and not call.closed:
                        # It may have been asked to read: pass that on.
                        next(iter(call.waiters.values())).wake.set()
                    raise DeadlineExceeded(f"no answer within the call's timeout of {deadline.timeout} s")
                lead = not call.reading and not call.closed
                if lead:
                    call.reading = True
            if lead:
                self._read(call, waiter, deadline)
            else:
                # In slices: should a call asked to take over the reading die
                # first (KeyboardInterrupt), the others still find the stream unread.
                left = deadline.left()
                waiter.wake.wait(_FOLLOWER_WAIT_S if left is None else min(left, _FOLLOWER_WAIT_S))

    def _read(self, call: _Call, mine: _Waiter, deadline: Deadline) -> None:
        """Reads answers and hands them out until ``mine`` has its outcome or
        the call ends; then passes the reading on to another waiting call."""
        self._arm_watchdog(call, deadline)
        try:
            while mine.outcome is None:
                failure: Optional[LearningLogError] = None
                response = None
                try:
                    response = next(call.rpc)
                except StopIteration:
                    failure = Unavailable("the IngestEvents stream ended before answering; the event is sent again")
                except grpc.RpcError as err:
                    failure = error_from_rpc(err)
                    if call.timed_out and err.code() == grpc.StatusCode.CANCELLED:
                        failure = DeadlineExceeded(f"no answer within the call's timeout of {deadline.timeout} s")
                except Exception as err:  # noqa: BLE001 - the waiting calls must hear of it
                    failure = error_for(grpc.StatusCode.INTERNAL, f"IngestEvents answer could not be read: {err!r}")
                with self._lock:
                    if failure is not None:
                        call.fail(failure)
                        if mine.outcome is None:
                            mine.outcome = failure
                    else:
                        assert response is not None
                        waiter = call.waiters.pop(response.batch_id, None)
                        if waiter is not None:  # None: its caller gave up (deadline)
                            waiter.outcome = response
                            waiter.wake.set()
        finally:
            self._disarm_watchdog()
            with self._lock:
                call.reading = False
                if call.waiters and not call.closed:
                    # Another call takes over reading.
                    next(iter(call.waiters.values())).wake.set()

    # -- the watchdog ---------------------------------------------------------

    def _arm_watchdog(self, call: _Call, deadline: Deadline) -> None:
        left = deadline.left()
        if left is None:
            return
        end = time.monotonic() + left
        with self._watch:
            self._reader_deadline = end
            self._reader_call = call
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch_reader, name="pulse-learning-log-stream-watchdog", daemon=True)
                self._watchdog.start()
            elif end < self._watchdog_wakes_at:
                self._watch.notify()

    def _disarm_watchdog(self) -> None:
        # No notify: the watchdog finds it disarmed when it wakes.
        with self._watch:
            self._reader_deadline = None
            self._reader_call = None

    def _watch_reader(self) -> None:
        """Cancels the stream when the reading call's deadline passes."""
        with self._watch:
            while not self._closed:
                now = time.monotonic()
                end = self._reader_deadline
                if end is not None and now >= end:
                    call = self._reader_call
                    self._reader_deadline = self._reader_call = None
                    if call is not None:
                        call.timed_out = True
                        call.rpc.cancel()
                    continue
                self._watchdog_wakes_at = now + _WATCHDOG_IDLE_S if end is None else min(end, now + _WATCHDOG_IDLE_S)
                self._watch.wait(self._watchdog_wakes_at - now)

    def close(self) -> None:
        """Ends the stream; calls still waiting fail. Later calls raise CANCELLED."""
        with self._lock:
            self._closed = True
            call, self._call = self._call, None
        with self._watch:
            self._watch.notify()
        if call is not None and self._pid == os.getpid():
            call.rpc.cancel()


def _event_error(error: Any, prefix: str) -> LearningLogError:
    """The typed error of the batch's one rejected event, worded as the unary
    call's would be: ``field: description`` without the batch's
    ``events[0].<case>.`` prefix, with its field violations."""
    code = status_code(error.code)
    message: str = error.message
    violations: List[FieldViolation] = []
    if message.startswith(prefix):
        parts = message[len(prefix) :].split("; " + prefix)
        for part in parts:
            field, sep, description = part.partition(": ")
            if sep:
                violations.append(FieldViolation(field, description))
        message = "; ".join(parts)
    return error_for(code, message, tuple(violations))
