"""BatchWriter: the high-throughput path, over the bidirectional IngestEvents stream.

``log_*`` calls only check the arguments, encode the event and put it in a
bounded buffer; a background thread sends the buffer in batches (when a
batch is full, or ``flush_interval`` after its first event, or at once on
``flush()``/``close()``) and the server answers each batch, in order, once
it is durable.

Nothing lost, nothing twice: every event gets its event_id (a UUID) when it
is logged and keeps it. A batch stays in the buffer until the server has
answered it; when the stream breaks (server restart, crash, network) the
unanswered batches are sent again, with the same event_ids, on a new stream.
The server remembers recent event_ids (also across its restarts) and answers
a resent event that it had already written as a duplicate, with its original
seq, without writing it again.
"""

from __future__ import annotations

import atexit
import collections
import os
import random
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .connection import MESSAGE_BYTES_MAX, Connection
from .diagnostics import logger
from .errors import RETRYABLE_CODES, BufferFull, Internal, LearningLogError, describe_failure, error_for, error_from_rpc, never_connected, status_code
from .events import CATALOG
from .ingest_wire import INGEST_PATH, SERVER_BATCH_EVENTS_MAX, batch_redactions, batch_request, frame_event, unframe_event
from .loss import ledger
from .results import BatchAck, Rejection, batch_ack

__all__ = ["BatchWriter"]

_log = logger

# Largest gRPC message the server accepts by default (--message-bytes-max),
# less room for the batch_id.
_MESSAGE_BYTES_MAX = MESSAGE_BYTES_MAX - 16


class _Batch:
    __slots__ = ("batch_id", "events", "size", "sent_at")

    def __init__(self, batch_id: int, events: List[Tuple[str, bytes]], size: int, sent_at: float):
        self.batch_id = batch_id
        #: (event_id, framed event bytes), in log order.
        self.events = events
        self.size = size
        self.sent_at = sent_at


class _ProtocolError(Exception):
    pass


_open_writers: "weakref.WeakSet[BatchWriter]" = weakref.WeakSet()


def _forget_parents_writers() -> None:
    # A forked child has copies of the parent's writers but not their
    # threads: their events are the parent's to send, not the child's.
    _open_writers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_writers)


@atexit.register
def _close_open_writers() -> None:
    # A writer left open at exit would lose its buffer with the daemon thread:
    # each gets its exit_timeout to make it durable, then what is left is
    # given up and reported (logger, on_dropped).
    for writer in list(_open_writers):
        writer._close_at_exit()
    # Last: the loss is visible in the exit status (see loss.py).
    ledger.exit_if_lost()


def _positive(name: str, value: Any, integer: bool = False, upper: Optional[float] = None) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}{bound}, got {value!r}")
    return value


class BatchWriter:
    """Buffers events and streams them to the server in durable batches.

    Use it as a context manager (``with BatchWriter() as w: w.log_event(...)``)
    or call :meth:`close`. ``log_*`` methods mirror the client's and return
    the event_id given to the event; :meth:`flush` returns once everything
    logged before it is durable.

    Connection:

    :param target: ``host:port``; default ``PULSE_LEARNING_LOG_ADDR`` or 127.0.0.1:50051.
    :param client: a :class:`LearningLogClient` whose channel and token to
        share (then ``target``/``token``/``credentials`` must not be given).
    :param token: / :param credentials: as for the client.

    Batching (the server answers each batch once it is fsynced):

    :param batch_events_max: events per batch, at most 10,000 (the server's
        default limit). Default 1,000.
    :param batch_bytes_max: encoded bytes per batch, at most 4 MiB. Default
        2 MiB. A single event larger than this raises ``ValueError``.
    :param flush_interval: seconds an event may wait for its batch to fill
        before the batch is sent anyway. Default 0.05.
    :param batches_in_flight_max: batches sent and not yet answered. Default 8.

    Bounded memory (events are buffered from ``log`` until answered):

    :param buffer_events_max: events buffered at most. Default 100,000.
    :param buffer_bytes_max: encoded bytes buffered at most. Default 64 MiB.
    :param on_full: ``"block"`` (default): ``log`` waits for room (at most
        ``block_timeout`` seconds when set, then raises :class:`BufferFull`);
        ``"raise"``: ``log`` raises :class:`BufferFull` at once.

    Retries (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED; any other
    status is fatal: it is raised by ``flush``, ``close`` and later ``log`` calls):

    :param backoff_initial: / :param backoff_max: wait before reconnecting,
        doubling from ``backoff_initial`` up to ``backoff_max`` seconds, with
        jitter. Defaults 0.05 and 2.
    :param retry_timeout: seconds of failing without any batch answered
        before giving up (fatal). Default 120.
    :param ack_timeout: seconds a sent batch may wait for its answer before
        the stream is abandoned and resent (as DEADLINE_EXCEEDED). Default 30.
    :param stream_idle_timeout: seconds without anything to send or await
        after which the stream is ended (a new one opens on the next event),
        so an idle writer never holds up a server's graceful shutdown. Default 1.

    Reports:

    :param on_rejected: called with each :class:`Rejection` (an event the
        server refused, e.g. INVALID_ARGUMENT); all are also kept in
        :attr:`rejected`.
    :param on_batch_acked: called with a :class:`BatchAck` for each answered batch.
    :param on_dropped: called with a :class:`Rejection` for each event given
        up without an answer: when the writer fails (a fatal status, or
        ``retry_timeout`` passed), is aborted, or is still not durable
        ``exit_timeout`` into the interpreter's exit. Its ``message`` says
        whether it was never sent (the server was never reached: it is not
        in the log) or sent without an answer (it may or may not be in the
        log), and the cause (the last failure, e.g. ``UNAVAILABLE:
        connection refused at 127.0.0.1:50051``). Every drop and every
        rejection is also logged (logger ``pulse_learning_log``, level
        ERROR): none goes unreported. Events given up (but not those
        :meth:`abort` drops on request) make the interpreter exit non-zero,
        see :mod:`pulse_learning_log.loss`.
    :param exit_timeout: seconds the interpreter's exit waits for a writer
        still open to make its events durable (``close``); then the rest are
        dropped and reported. Default 10.

    Callbacks run on the writer's thread (``on_dropped`` also on the thread
    that aborts or exits); they must be quick and must not call ``flush`` or
    ``close``.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        client: Any = None,
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
        exit_timeout: float = 10.0,
    ):
        self._batch_events_max = _positive("batch_events_max", batch_events_max, True, SERVER_BATCH_EVENTS_MAX)
        self._batch_bytes_max = _positive("batch_bytes_max", batch_bytes_max, True, _MESSAGE_BYTES_MAX)
        self._flush_interval = _positive("flush_interval", flush_interval)
        self._inflight_max = _positive("batches_in_flight_max", batches_in_flight_max, True)
        self._buffer_events_max = _positive("buffer_events_max", buffer_events_max, True)
        self._buffer_bytes_max = _positive("buffer_bytes_max", buffer_bytes_max, True)
        if on_full not in ("block", "raise"):
            raise ValueError(f'on_full must be "block" or "raise", got {on_full!r}')
        self._raise_when_full = on_full == "raise"
        self._block_timeout = None if block_timeout is None else _positive("block_timeout", block_timeout)
        self._backoff_initial = _positive("backoff_initial", backoff_initial)
        self._backoff_max = _positive("backoff_max", backoff_max)
        self._retry_timeout = _positive("retry_timeout", retry_timeout)
        self._ack_timeout = _positive("ack_timeout", ack_timeout)
        self._idle_timeout = _positive("stream_idle_timeout", stream_idle_timeout)
        self._on_rejected = on_rejected
        self._on_batch_acked = on_batch_acked
        self._on_dropped = on_dropped
        self._exit_timeout: float = _positive("exit_timeout", exit_timeout)

        if client is not None:
            if target is not None or token is not None or credentials is not None:
                raise ValueError("give either client or target/token/credentials, not both")
            self._conn: Connection = client.connection
            self._owns_connection = False
        else:
            self._conn = Connection(target, token=token, credentials=credentials, backoff_max=backoff_max)
            self._owns_connection = True
        self._ingest = self._conn.channel.stream_stream(
            INGEST_PATH,
            request_serializer=None,  # requests are assembled as bytes
            response_deserializer=pb.IngestEventsResponse.FromString,
        )

        self._cond = threading.Condition(threading.Lock())
        # Everything below is guarded by _cond.
        self._pending: Deque[Tuple[str, bytes]] = collections.deque()
        self._pending_bytes = 0
        self._pending_since: Optional[float] = None
        self._inflight: Deque[_Batch] = collections.deque()
        self._buffered_events = 0
        self._buffered_bytes = 0
        self._logged = 0
        self._done = 0
        self._written = 0
        self._duplicates = 0
        self._batches = 0
        self._retries = 0
        self._dropped = 0
        self._batch_id = 0
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._error: Optional[LearningLogError] = None
        self._generation = 0
        self._call: Any = None
        self._timed_out_generation = -1
        self._abort = threading.Event()
        #: The stream's last failure while no batch has been answered since
        #: (the cause to tell when events are given up or a flush times out).
        self._last_failure: Optional[LearningLogError] = None
        #: Event_ids back in _pending after a stream that reached the server
        #: ended without their answer: they may be in the log.
        self._maybe_sent: Set[str] = set()
        #: A stream of this writer has reached the server (for the words of a cause).
        self._ever_reached = False
        #: Every event the server refused, as :class:`Rejection` tuples.
        self.rejected: List[Rejection] = []

        self._thread = threading.Thread(target=self._run, name="pulse-learning-log-batch-writer", daemon=True)
        self._thread.start()
        _open_writers.add(self)

    # -- logging ------------------------------------------------------------

    def _add(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> str:
        """The generic log method: checks and encodes the event named
        ``method`` (a row of :data:`~pulse_learning_log.events.CATALOG`) and
        buffers it; returns its event_id."""
        entry = CATALOG[method]
        message = entry.request(args, event_id)
        given_id: str = message.event_id
        event = entry.encode(message)  # a LearningEvent
        framed = frame_event(event, self._conn.event_run())  # one IngestEventsRequest.events field, with the run in force
        size = len(framed)
        if size > self._batch_bytes_max:
            raise ValueError(f"event of {size} bytes is larger than batch_bytes_max ({self._batch_bytes_max})")
        with self._cond:
            if self._error is not None or self._closing:
                self._raise_state()
            if self._buffered_events >= self._buffer_events_max or self._buffered_bytes + size > self._buffer_bytes_max:
                self._wait_for_room(size)
            batch_full = False
            was_empty = not self._pending
            self._pending.append((given_id, framed))
            self._pending_bytes += size
            self._buffered_events += 1
            self._buffered_bytes += size
            self._logged += 1
            if was_empty:
                self._pending_since = time.monotonic()
                self._cond.notify_all()
            elif len(self._pending) == self._batch_events_max or self._pending_bytes >= self._batch_bytes_max:
                self._cond.notify_all()
                batch_full = True
        if batch_full:
            # Let the sending threads run now: a thread logging in a tight loop
            # holds the GIL, and they would otherwise wait for Python's switch
            # interval (5 ms) at each of their steps of every batch. Measured
            # (100,000 events in a loop, 2 loaded cores): 66,000-70,000 were
            # still unsent when the last was logged; with this, 36,000-39,000.
            time.sleep(0)
        return given_id

    def _wait_for_room(self, size: int) -> None:
        """Called holding the lock with the buffer full: waits (or raises BufferFull)."""
        if self._raise_when_full:
            raise BufferFull(f"buffer full ({self._buffered_events} events, {self._buffered_bytes} bytes)")
        deadline = None if self._block_timeout is None else time.monotonic() + self._block_timeout
        while self._buffered_events >= self._buffer_events_max or (
            self._buffered_events > 0 and self._buffered_bytes + size > self._buffer_bytes_max
        ):
            if self._error is not None or self._closing:
                self._raise_state()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise BufferFull(f"buffer still full after {self._block_timeout} s ({self._buffered_events} events)")
            self._cond.wait(remaining)

    def _raise_state(self) -> None:
        if self._error is not None:
            # A fresh exception per raise: the stored one may be raised in many threads.
            raise error_for(self._error.code, self._error.details, self._error.field_violations) from self._error
        raise RuntimeError("BatchWriter is closed")

    # One thin wrapper per row of events.CATALOG, with the original signature
    # (the row's fill parameters) and the keyword-only event_id.

    def log_event(self, event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> str:
        """Buffers a free-form event; returns its event_id."""
        return self._add("log_event", (event_type, data, context), event_id)

    def log_variable_weight_change(self, var: str, old_weight: float, new_weight: float, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``variable_weight_update``; returns its event_id."""
        return self._add("log_variable_weight_change", (var, old_weight, new_weight), event_id)

    def log_symbolic_upgrade(self, plan: Dict[str, Any], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_upgrade_applied``; returns its event_id."""
        return self._add("log_symbolic_upgrade", (plan,), event_id)

    def log_revision_trigger(self, reason: str, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_revision_triggered``; returns its event_id."""
        return self._add("log_revision_trigger", (reason,), event_id)

    def log_arc_regret(self, scores: Dict[str, float], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``symbolic_arc_regret``; returns its event_id."""
        return self._add("log_arc_regret", (scores,), event_id)

    def log_learning_summary(self, summary: Dict[str, Any], *, event_id: Optional[str] = None) -> str:
        """Buffers a ``meta_learning_summary``; returns its event_id."""
        return self._add("log_learning_summary", (summary,), event_id)

    def log_rule_activation(
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
        return self._add("log_rule_activation", (rule_id, variable_id, outcome, forecast_id, success), event_id)

    def log_bayesian_trust_metrics(self, key: str, kind: str = "variable", *, event_id: Optional[str] = None) -> str:
        """Buffers a ``bayesian_trust_metrics`` (the server reads the metrics
        when it writes the batch); returns its event_id."""
        return self._add("log_bayesian_trust_metrics", (key, kind), event_id)

    def log_rule_effectiveness(self, rule_id: str, activation_count: int, success_rate: float, impact_score: float, *, event_id: Optional[str] = None) -> str:
        """Buffers a ``rule_effectiveness``; returns its event_id."""
        return self._add("log_rule_effectiveness", (rule_id, activation_count, success_rate, impact_score), event_id)

    # -- flush and close ----------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends everything buffered now and returns once all events logged
        before the call are answered: durable on the server, or rejected (see
        :attr:`rejected`). Raises the fatal error if the writer failed, and
        ``TimeoutError`` if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._logged
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._done < target and self._error is None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"flush: {target - self._done} events still not durable after {timeout} s{self._failing()}") from self._last_failure
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1
            if self._error is not None:
                self._raise_state()

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, ends the stream and stops the thread; later ``log`` calls
        raise. Raises the fatal error if the writer failed (events not yet
        durable then are lost), ``TimeoutError`` if ``timeout`` passes first
        (the writer keeps closing in the background)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                failing = self._failing()
            raise TimeoutError(f"close: {self.buffered} events still not durable after {timeout} s{failing}") from self._last_failure
        with self._cond:
            already_closed = self._closed
            self._closed = True
        if not already_closed:
            _open_writers.discard(self)
            if self._owns_connection:
                self._conn.close()
        with self._cond:
            if self._error is not None:
                self._raise_state()

    def abort(self) -> None:
        """Stops at once: buffered events that were not answered are dropped
        (they may or may not be durable; logged and passed to ``on_dropped``,
        not counted as a loss for the exit status: you asked for it). Later
        calls raise ``Cancelled``."""
        self._stop(why="on abort()", counted=False)

    def _stop(self, why: str, counted: bool) -> None:
        with self._cond:
            if self._closed:
                return
            if self._error is None:
                self._error = error_for(grpc.StatusCode.CANCELLED, "BatchWriter aborted")
            self._closing = True
            call = self._call
            self._cond.notify_all()
        self._abort.set()
        if call is not None:
            call.cancel()
        self._thread.join()
        self._drop_unanswered(why, counted)
        with self._cond:
            self._closed = True
        _open_writers.discard(self)
        if self._owns_connection:
            self._conn.close()

    def close_or_abort(self, timeout: Optional[float] = None, *, why: str = "into close_or_abort()") -> None:
        """:meth:`close` within ``timeout`` seconds (default ``exit_timeout``),
        then :meth:`abort`: what is still not durable is dropped, logged and
        passed to ``on_dropped``. Never raises (a fatal error was reported
        when it happened)."""
        limit = self._exit_timeout if timeout is None else timeout
        try:
            self.close(timeout=limit)
        except TimeoutError:
            self._stop(why=f"still not durable {limit} s {why}", counted=True)
        except LearningLogError:
            pass  # the writer failed: logged and reported (on_dropped) when it did
        except Exception as err:  # noqa: BLE001 - never raises: report
            _log.error("BatchWriter not closed: %r", err)

    def _close_at_exit(self) -> None:
        """The interpreter is exiting: close within ``exit_timeout``, then give up."""
        with self._cond:
            buffered, failing = self._buffered_events, self._failing()
        if buffered and failing:
            # Say now why the exit waits, not only once it gave up.
            _log.warning("BatchWriter: waiting up to %s s (exit_timeout) at the interpreter's exit for %d events not yet durable%s", self._exit_timeout, buffered, failing)
        self.close_or_abort(why="into the interpreter's exit")

    def __enter__(self) -> "BatchWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
            return
        # The block failed: still make what it logged durable, but let its
        # exception be the one that propagates.
        try:
            self.close()
        except Exception as err:  # noqa: BLE001
            _log.error("BatchWriter.close failed after an exception in the with block: %s", err)

    # -- state --------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Events logged and not yet answered by the server."""
        with self._cond:
            return self._buffered_events

    @property
    def exit_timeout(self) -> float:
        """Seconds the interpreter's exit (and ``close_or_abort``) waits for durability."""
        return self._exit_timeout

    @property
    def error(self) -> Optional[LearningLogError]:
        """The fatal error, once the writer has failed."""
        return self._error

    def stats(self) -> Dict[str, int]:
        """Counters: ``logged``, ``written`` (new records), ``duplicates``
        (resent events the server already had), ``rejected``, ``dropped``
        (given up unanswered, see ``on_dropped``), ``buffered``, ``batches``
        (answered), ``retries`` (streams re-opened after a failure)."""
        with self._cond:
            return {
                "logged": self._logged,
                "written": self._written,
                "duplicates": self._duplicates,
                "rejected": len(self.rejected),
                "dropped": self._dropped,
                "buffered": self._buffered_events,
                "batches": self._batches,
                "retries": self._retries,
            }

    # -- the writer thread ----------------------------------------------------

    def _run(self) -> None:
        try:
            self._stream_loop()
        except _ProtocolError as err:
            self._fail(Internal(f"IngestEvents: {err}"))
        except BaseException as err:  # noqa: BLE001 - the thread must report, not die silently
            self._fail(Internal(f"BatchWriter thread failed: {err!r}"))

    def _stream_loop(self) -> None:
        """Opens a stream whenever there is something to send, reads its
        answers, and re-opens it after a retryable failure."""
        failing_since: Optional[float] = None
        attempt = 0
        while True:
            with self._cond:
                while not self._pending and not self._closing and self._error is None:
                    self._cond.wait()
                if self._error is not None or (self._closing and not self._pending and not self._inflight):
                    return
                generation = self._generation
            call = self._ingest(self._requests(generation), metadata=self._conn.metadata)
            with self._cond:
                self._call = call
            try:
                for response in call:
                    self._on_response(response)
                    failing_since = None
                    attempt = 0
                # Ended after our half-close (idle or closing): answers are complete.
                self._end_stream(generation, reached=True)
            except grpc.RpcError as err:
                if self._abort.is_set():
                    # Our own cancel: abort() gives up what is left, for its reason.
                    self._end_stream(generation, reached=True)
                    return
                code = err.code()
                if code == grpc.StatusCode.CANCELLED and self._timed_out_generation == generation:
                    code = grpc.StatusCode.DEADLINE_EXCEEDED
                failure = error_from_rpc(err, code)
                self._end_stream(generation, reached=not never_connected(failure), failure=failure)
                if code in RETRYABLE_CODES:
                    now = time.monotonic()
                    failing_since = failing_since if failing_since is not None else now
                    if now - failing_since < self._retry_timeout:
                        attempt += 1
                        with self._cond:
                            self._retries += 1
                        _log.info("IngestEvents stream failed (%s: %s); retrying", code.name, err.details())
                        delay = min(self._backoff_max, self._backoff_initial * 2 ** (attempt - 1))
                        self._abort.wait(delay * (0.5 + 0.5 * random.random()))
                        continue
                self._fail(failure)
                return
            except BaseException:
                call.cancel()
                self._end_stream(generation, reached=True)
                raise

    def _requests(self, generation: int) -> Iterator[bytes]:
        """The request stream of one IngestEvents call (runs on grpc's thread)."""
        idle_since = time.monotonic()
        while True:
            cancel = False
            with self._cond:
                while True:
                    if self._generation != generation or self._error is not None:
                        return
                    now = time.monotonic()
                    timeout: Optional[float] = None
                    if self._inflight:
                        idle_since = now
                        age = now - self._inflight[0].sent_at
                        if age >= self._ack_timeout:
                            self._timed_out_generation = generation
                            cancel = True
                            break
                        timeout = self._ack_timeout - age
                    if self._pending:
                        idle_since = now
                        if len(self._inflight) < self._inflight_max:
                            pending_since = self._pending_since
                            assert pending_since is not None  # set while anything is pending
                            due = (
                                self._closing
                                or self._flushing > 0
                                or len(self._pending) >= self._batch_events_max
                                or self._pending_bytes >= self._batch_bytes_max
                                or now - pending_since >= self._flush_interval
                            )
                            if due:
                                batch = self._take_batch(now)
                                break
                            wait_left = pending_since + self._flush_interval - now
                            timeout = wait_left if timeout is None else min(timeout, wait_left)
                    elif self._closing:
                        return  # half-close: the server answers what it has, then ends the call
                    elif not self._inflight:
                        idle_left = idle_since + self._idle_timeout - now
                        if idle_left <= 0:
                            return
                        timeout = idle_left if timeout is None else min(timeout, idle_left)
                    self._cond.wait(timeout)
            if cancel:
                call = self._call
                if call is not None:
                    call.cancel()
                return
            yield batch_request(batch.batch_id, [framed for _, framed in batch.events])

    def _take_batch(self, now: float) -> _Batch:
        """Moves the oldest pending events into a new in-flight batch (lock held)."""
        events: List[Tuple[str, bytes]] = []
        size = 0
        pending = self._pending
        while pending and len(events) < self._batch_events_max:
            event_size = len(pending[0][1])
            if events and size + event_size > self._batch_bytes_max:
                break
            events.append(pending.popleft())
            size += event_size
        self._pending_bytes -= size
        if not pending:
            self._pending_since = None
        self._batch_id += 1
        batch = _Batch(self._batch_id, events, size, now)
        self._inflight.append(batch)
        return batch

    def _on_response(self, response: Any) -> None:
        with self._cond:
            if not self._inflight or self._inflight[0].batch_id != response.batch_id:
                expected = self._inflight[0].batch_id if self._inflight else None
                raise _ProtocolError(f"answer for batch {response.batch_id}, expected {expected}")
            batch = self._inflight.popleft()
            n = len(batch.events)
            rejections = []
            for e in response.errors:
                if e.index >= n:
                    raise _ProtocolError(f"error index {e.index} outside batch {batch.batch_id} of {n} events")
                event_id, framed = batch.events[e.index]
                rejections.append(Rejection(event_id, status_code(e.code), e.message, unframe_event(framed)))
            self._buffered_events -= n
            self._buffered_bytes -= batch.size
            self._last_failure = None
            self._ever_reached = True
            if self._maybe_sent:
                for event_id, _ in batch.events:
                    self._maybe_sent.discard(event_id)
            self._done += n
            self._written += response.count - response.duplicates
            self._duplicates += response.duplicates
            self._batches += 1
            self.rejected.extend(rejections)
            self._cond.notify_all()
        for rejection in rejections:
            _log.error("the server refused event %s (%s: %s); it was not written", rejection.event_id, rejection.code.name, rejection.message)
            self._callback(self._on_rejected, rejection)
        redactions = batch_redactions(batch.events, response)  # warns
        if self._on_batch_acked is not None:
            self._callback(self._on_batch_acked, batch_ack(batch.batch_id, n, response, tuple(rejections), redactions))

    @staticmethod
    def _callback(callback: Optional[Callable[[Any], None]], value: Any) -> None:
        if callback is None:
            return
        try:
            callback(value)
        except Exception:  # noqa: BLE001 - a user callback must not stop the writer
            _log.exception("BatchWriter callback failed")

    def _end_stream(self, generation: int, reached: bool, failure: Optional[LearningLogError] = None) -> None:
        """The call ended: stop its request stream and put unanswered batches
        back at the front of the buffer, in order, to be resent. ``reached``:
        the call may have delivered them (it was not refused a connection)."""
        with self._cond:
            if self._generation == generation:
                self._generation += 1
            self._call = None
            if failure is not None:
                self._last_failure = failure
            if reached:
                self._ever_reached = True
            if self._inflight:
                if reached:
                    self._maybe_sent.update(event_id for batch in self._inflight for event_id, _ in batch.events)
                events = [event for batch in self._inflight for event in batch.events]
                self._pending.extendleft(reversed(events))
                self._pending_bytes += sum(batch.size for batch in self._inflight)
                self._inflight.clear()
                # They have waited already: send them as soon as a stream is up.
                self._pending_since = time.monotonic() - self._flush_interval
            self._cond.notify_all()

    def _fail(self, error: LearningLogError) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._generation += 1
            self._cond.notify_all()
        _log.error("BatchWriter failed: %s", error)
        self._drop_unanswered("after the writer failed", counted=True)

    def _failing(self) -> str:
        """``; <cause>`` while the stream is failing (lock held), for messages."""
        failure = self._last_failure
        if failure is None:
            return ""
        if never_connected(failure):
            return f"; the server {self._unreached()} ({describe_failure(failure)}), retrying"
        return f"; the stream is failing ({describe_failure(failure)}), retrying"

    def _unreached(self) -> str:
        """How the server stands when the last call found no connection (lock held)."""
        return "cannot be reached now" if self._ever_reached else "was never reached"

    def _drop_unanswered(self, why: str, counted: bool) -> None:
        """After a fatal error or an abort: gives up every event not yet
        answered, logs how many were never sent and how many were sent
        without an answer, and why, reports each to ``on_dropped`` and, when
        ``counted``, to the process's loss ledger (exit status)."""
        with self._cond:
            error = self._error
            failure = self._last_failure or error
            # In flight now: sent on the current stream, unanswered.
            sent = [event for batch in self._inflight for event in batch.events]
            never: List[Tuple[str, bytes]] = []
            for event in self._pending:
                (sent if event[0] in self._maybe_sent else never).append(event)
            events = sent + never
            self._maybe_sent.clear()
            self._inflight.clear()
            self._pending.clear()
            self._pending_bytes = 0
            self._buffered_events = 0
            self._buffered_bytes = 0
            self._done += len(events)
            self._dropped += len(events)
            self._cond.notify_all()
        if not events or failure is None:
            return
        cause = describe_failure(failure)
        if never_connected(failure):
            with self._cond:
                unreached = self._unreached()
            cause = f"the server at {self._conn.target} {unreached}: {cause}"
        _log.error(
            "BatchWriter gave up %d events %s: %d never sent (not in the log), %d sent without an answer (they may or may not be in the log); cause: %s. First event_ids: %s",
            len(events),
            why,
            len(never),
            len(sent),
            cause,
            ", ".join(event_id for event_id, _ in events[:5]),
        )
        if counted:
            ledger.record(len(never), len(sent), cause)
        if self._on_dropped is not None:
            for kind, group in (("sent without an answer", sent), ("never sent", never)):
                for event_id, framed in group:
                    self._callback(self._on_dropped, Rejection(event_id, failure.code, f"{kind}: {cause}", unframe_event(framed)))
