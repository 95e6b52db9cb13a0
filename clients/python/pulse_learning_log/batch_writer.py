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
import os
import threading
import time
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .connection import Connection
from .diagnostics import logger
from .errors import BufferFull, Internal, LearningLogError, describe_failure, error_for, error_from_rpc, never_connected, status_code
from ._surfaces import WriterEvents
from .events import CATALOG
from .ingest_wire import INGEST_PATH, batch_redactions, batch_request, frame_event, unframe_event
from .loss import ledger
from .results import BatchAck, Rejection, batch_ack
from .writer_core import BATCH_ID_BYTES_MAX, DEFAULT_LIMITS, FULL, QUEUED, AckTimeout, Batch, Dropped, EndStream, ProtocolError, Retry, Send, WriterCore, positive

__all__ = ["BatchWriter"]

_log = logger

# Largest batch the server accepts by default (--message-bytes-max, less
# room for the batch_id); the server's own limits, once it told them, may be lower.
_MESSAGE_BYTES_MAX = DEFAULT_LIMITS.message_bytes_max - BATCH_ID_BYTES_MAX


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


_positive = positive


def writer_core(
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
) -> "WriterCore[LearningLogError]":
    """The core of a writer (sync or asyncio) from its parameters, each
    checked (``ValueError`` naming the parameter)."""
    return WriterCore(
        batch_events_max=positive("batch_events_max", batch_events_max, True, DEFAULT_LIMITS.batch_events_max),
        batch_bytes_max=positive("batch_bytes_max", batch_bytes_max, True, _MESSAGE_BYTES_MAX),
        flush_interval=positive("flush_interval", flush_interval),
        batches_in_flight_max=positive("batches_in_flight_max", batches_in_flight_max, True),
        buffer_events_max=positive("buffer_events_max", buffer_events_max, True),
        buffer_bytes_max=positive("buffer_bytes_max", buffer_bytes_max, True),
        backoff_initial=positive("backoff_initial", backoff_initial),
        backoff_max=positive("backoff_max", backoff_max),
        retry_timeout=positive("retry_timeout", retry_timeout),
        ack_timeout=positive("ack_timeout", ack_timeout),
        stream_idle_timeout=positive("stream_idle_timeout", stream_idle_timeout),
    )


def rejections_of(batch: Batch, response: Any) -> List[Rejection]:
    """The events of ``batch`` that the server's answer says it refused."""
    return [Rejection(batch.events[e.index][0], status_code(e.code), e.message, unframe_event(batch.events[e.index][1])) for e in response.errors]


def report_answer(
    batch: Batch,
    response: Any,
    rejections: Sequence[Rejection],
    on_rejected: Optional[Callable[[Rejection], None]],
    on_batch_acked: Optional[Callable[[BatchAck], None]],
) -> None:
    """Logs and reports (callbacks) one answered batch: its refused events, its redactions."""
    for rejection in rejections:
        _log.error("the server refused event %s (%s: %s); it was not written", rejection.event_id, rejection.code.name, rejection.message)
        _callback(on_rejected, rejection)
    redactions = batch_redactions(batch.events, response)  # warns
    if on_batch_acked is not None:
        _callback(on_batch_acked, batch_ack(batch.batch_id, len(batch.events), response, tuple(rejections), redactions))


def report_dropped(
    dropped: Dropped,
    failure: Optional[LearningLogError],
    why: str,
    counted: bool,
    ever_reached: bool,
    target: str,
    on_dropped: Optional[Callable[[Rejection], None]],
) -> None:
    """Logs the events a writer gave up (how many were never sent, how many
    sent without an answer, and why), reports each to ``on_dropped`` and,
    when ``counted``, to the process's loss ledger (exit status).
    ``ever_reached``: a stream of the writer has reached the server."""
    events, sent, never = dropped.events, dropped.sent, dropped.never_sent
    if not events or failure is None:
        return
    cause = describe_failure(failure)
    if never_connected(failure):
        cause = f"the server at {target} {unreached_words(ever_reached)}: {cause}"
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
    if on_dropped is not None:
        for kind, group in (("sent without an answer", sent), ("never sent", never)):
            for event_id, framed in group:
                _callback(on_dropped, Rejection(event_id, failure.code, f"{kind}: {cause}", unframe_event(framed)))


def unreached_words(ever_reached: bool) -> str:
    """How the server stands when the last call found no connection."""
    return "cannot be reached now" if ever_reached else "was never reached"


def _callback(callback: Optional[Callable[[Any], None]], value: Any) -> None:
    if callback is None:
        return
    try:
        callback(value)
    except Exception:  # noqa: BLE001 - a user callback must not stop the writer
        _log.exception("BatchWriter callback failed")


class BatchWriter(WriterEvents):
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
        #: Batching, retries and loss accounting; guarded by _cond.
        self._core = writer_core(
            batch_events_max, batch_bytes_max, flush_interval, batches_in_flight_max, buffer_events_max, buffer_bytes_max,
            backoff_initial, backoff_max, retry_timeout, ack_timeout, stream_idle_timeout,
        )  # fmt: skip
        if on_full not in ("block", "raise"):
            raise ValueError(f'on_full must be "block" or "raise", got {on_full!r}')
        self._raise_when_full = on_full == "raise"
        self._block_timeout = None if block_timeout is None else _positive("block_timeout", block_timeout)
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

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # Everything below is guarded by _cond (the core too).
        self._closed = False
        #: Each stream's number: its request iterator ends once it is not the current one.
        self._generation = 0
        self._call: Any = None
        self._timed_out_generation = -1
        self._abort = threading.Event()
        #: The batch caps follow the server's limits (see _learn_limits).
        self._limits_learnt = False
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
        given_id, event = CATALOG[method].event_bytes(args, event_id)  # a LearningEvent
        framed = frame_event(event, self._conn.event_run())  # one IngestEventsRequest.events field, with the run in force
        size = len(framed)
        core = self._core
        if size > core.batch_bytes_max:
            raise ValueError(f"event of {size} bytes is larger than batch_bytes_max ({core.batch_bytes_max})")
        # The condition's own lock: holding it is what notify needs, without Condition.__enter__'s Python frame per call.
        with self._lock:
            if core.error is not None or core.closing:
                self._raise_state()
            if core.full(size):
                self._wait_for_room(size)
            added = core.add(given_id, framed)
            if added is not QUEUED:
                self._cond.notify_all()
        if added is FULL:
            # Let the sending threads run now: a thread logging in a tight loop
            # holds the GIL, and they would otherwise wait for Python's switch
            # interval (5 ms) at each of their steps of every batch. Measured
            # (100,000 events in a loop, 2 loaded cores): 66,000-70,000 were
            # still unsent when the last was logged; with this, 36,000-39,000.
            time.sleep(0)
        return given_id

    def _wait_for_room(self, size: int) -> None:
        """Called holding the lock with the buffer full: waits (or raises BufferFull)."""
        core = self._core
        if self._raise_when_full:
            raise BufferFull(f"buffer full ({core.buffered_events} events, {core.buffered_bytes} bytes)")
        deadline = None if self._block_timeout is None else time.monotonic() + self._block_timeout
        while core.full(size):
            if core.error is not None or core.closing:
                self._raise_state()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise BufferFull(f"buffer still full after {self._block_timeout} s ({core.buffered_events} events)")
            self._cond.wait(remaining)

    def _raise_state(self) -> None:
        error = self._core.error
        if error is not None:
            # A fresh exception per raise: the stored one may be raised in many threads.
            raise error_for(error.code, error.details, error.field_violations) from error
        raise RuntimeError("BatchWriter is closed")

    # The log_* methods (one per row of events.CATALOG, with the original
    # signature and the keyword-only event_id, each calling _add) are
    # generated into WriterEvents.

    # -- flush and close ----------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sends everything buffered now and returns once all events logged
        before the call are answered: durable on the server, or rejected (see
        :attr:`rejected`). Raises the fatal error if the writer failed, and
        ``TimeoutError`` if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        core = self._core
        with self._cond:
            target = core.logged
            core.flushing += 1
            self._cond.notify_all()
            try:
                while not core.flushed(target) and core.error is None:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"flush: {target - core.done} events still not durable after {timeout} s{self._failing()}") from core.last_failure
                    self._cond.wait(remaining)
            finally:
                core.flushing -= 1
            if core.error is not None:
                self._raise_state()

    def close(self, timeout: Optional[float] = None) -> None:
        """Flushes, ends the stream and stops the thread; later ``log`` calls
        raise. Raises the fatal error if the writer failed (events not yet
        durable then are lost), ``TimeoutError`` if ``timeout`` passes first
        (the writer keeps closing in the background)."""
        with self._cond:
            self._core.closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                failing = self._failing()
            raise TimeoutError(f"close: {self.buffered} events still not durable after {timeout} s{failing}") from self._core.last_failure
        with self._cond:
            already_closed = self._closed
            self._closed = True
        if not already_closed:
            _open_writers.discard(self)
            if self._owns_connection:
                self._conn.close()
        with self._cond:
            if self._core.error is not None:
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
            self._core.fail(error_for(grpc.StatusCode.CANCELLED, "BatchWriter aborted"))
            self._core.closing = True
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
            buffered, failing = self._core.buffered_events, self._failing()
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
            return self._core.buffered_events

    @property
    def exit_timeout(self) -> float:
        """Seconds the interpreter's exit (and ``close_or_abort``) waits for durability."""
        return self._exit_timeout

    @property
    def error(self) -> Optional[LearningLogError]:
        """The fatal error, once the writer has failed."""
        return self._core.error

    def stats(self) -> Dict[str, int]:
        """Counters: ``logged``, ``written`` (new records), ``duplicates``
        (resent events the server already had), ``rejected``, ``dropped``
        (given up unanswered, see ``on_dropped``), ``buffered``, ``batches``
        (answered), ``retries`` (streams re-opened after a failure)."""
        with self._cond:
            return self._core.stats(len(self.rejected))

    # -- the writer thread: the I/O the core asks for --------------------------

    def _run(self) -> None:
        try:
            self._stream_loop()
        except ProtocolError as err:
            self._fail(Internal(f"IngestEvents: {err}"))
        except BaseException as err:  # noqa: BLE001 - the thread must report, not die silently
            self._fail(Internal(f"BatchWriter thread failed: {err!r}"))

    def _stream_loop(self) -> None:
        """Opens a stream whenever there is something to send, reads its
        answers, and re-opens it after a retryable failure."""
        core = self._core
        while True:
            if not self._limits_learnt:
                self._learn_limits()
            with self._cond:
                while not core.wants_stream() and not core.finished():
                    self._cond.wait()
                if core.finished():
                    return
                generation = self._generation
                core.stream_opened()
            call = self._ingest(self._requests(generation), metadata=self._conn.metadata)
            with self._cond:
                self._call = call
            try:
                for response in call:
                    self._on_response(response)
                # Ended after our half-close (idle or closing): answers are complete.
                self._end_stream(generation, reached=True)
            except grpc.RpcError as err:
                if self._abort.is_set():
                    # Our own cancel: abort() gives up what is left, for its reason. What the
                    # stream carried was sent only if it could have gone out: never, when no
                    # stream of this writer reached the server and the channel is not connected.
                    self._end_stream(generation, reached=self._core.ever_reached or self._channel_connected())
                    return
                code = err.code()
                if code == grpc.StatusCode.CANCELLED and self._timed_out_generation == generation:
                    code = grpc.StatusCode.DEADLINE_EXCEEDED
                failure = error_from_rpc(err, code)
                step = self._end_stream(generation, reached=not never_connected(failure), failure=failure)
                if isinstance(step, Retry):
                    _log.info("IngestEvents stream failed (%s: %s); retrying", code.name, err.details())
                    self._abort.wait(step.delay)
                    continue
                self._fail(failure)
                return
            except BaseException:
                call.cancel()
                self._end_stream(generation, reached=True)
                raise

    def _channel_connected(self) -> bool:
        """Whether the channel has a connection now (grpc core's own state,
        not asked to connect). Where that cannot be read, True: events are
        then said to be sent, which never claims one is not in the log."""
        try:
            state: int = self._conn.channel._channel.check_connectivity_state(False)  # noqa: SLF001 (grpcio has no public call that does not wait)
        except Exception:  # pragma: no cover - another grpcio
            return True
        return bool(state == grpc.ChannelConnectivity.READY.value[0])

    def _learn_limits(self) -> None:
        """Sizes batches to the server's limits (asked once per connection;
        first when the writer starts, so usually before any event, then
        before each stream until the server answers)."""
        limits = self._conn.server_limits()
        if limits is not None:
            with self._cond:
                self._core.apply_server_limits(limits)
            self._limits_learnt = True

    def _requests(self, generation: int) -> Iterator[bytes]:
        """The request stream of one IngestEvents call (runs on grpc's thread)."""
        core = self._core
        call: Any = None
        while True:
            with self._cond:
                while True:
                    if self._generation != generation or core.error is not None:
                        return
                    step = core.next_send()
                    if isinstance(step, (Send, AckTimeout, EndStream)):
                        break
                    self._cond.wait(None if step.until is None else max(0.0, step.until - core.clock()))
                if isinstance(step, AckTimeout):
                    self._timed_out_generation = generation
                    call = self._call
            if isinstance(step, EndStream):
                return  # half-close: the server answers what it has, then ends the call
            if isinstance(step, AckTimeout):
                if call is not None:
                    call.cancel()
                return
            yield batch_request(step.batch.batch_id, [framed for _, framed in step.batch.events])

    def _on_response(self, response: Any) -> None:
        with self._cond:
            batch = self._core.on_answer(response.batch_id, response.count, response.duplicates, [e.index for e in response.errors])
            rejections = rejections_of(batch, response)
            self.rejected.extend(rejections)
            self._cond.notify_all()
        report_answer(batch, response, rejections, self._on_rejected, self._on_batch_acked)

    def _end_stream(self, generation: int, reached: bool, failure: Optional[LearningLogError] = None) -> Any:
        """The call ended: stop its request stream and hand its unanswered
        batches back to the core (resent on the next stream). ``reached``:
        the call may have delivered them (it was not refused a connection).
        Returns the core's next step after ``failure`` (Retry or GiveUp)."""
        with self._cond:
            if self._generation == generation:
                self._generation += 1
            self._call = None
            step = self._core.stream_ended(reached=reached, failure=failure)
            self._cond.notify_all()
        return step

    def _fail(self, error: LearningLogError) -> None:
        with self._cond:
            self._core.fail(error)
            self._generation += 1
            self._cond.notify_all()
        _log.error("BatchWriter failed: %s", error)
        self._drop_unanswered("after the writer failed", counted=True)

    def _failing(self) -> str:
        """``; <cause>`` while the stream is failing (lock held), for messages."""
        failure = self._core.last_failure
        if failure is None:
            return ""
        if never_connected(failure):
            return f"; the server {self._unreached()} ({describe_failure(failure)}), retrying"
        return f"; the stream is failing ({describe_failure(failure)}), retrying"

    def _unreached(self) -> str:
        """How the server stands when the last call found no connection (lock held)."""
        return unreached_words(self._core.ever_reached)

    def _drop_unanswered(self, why: str, counted: bool) -> None:
        """After a fatal error or an abort: gives up every event not yet
        answered and reports them (see :func:`report_dropped`)."""
        with self._cond:
            core = self._core
            failure = core.last_failure or core.error
            dropped = core.give_up()
            ever_reached = core.ever_reached
            self._cond.notify_all()
        report_dropped(dropped, failure, why, counted, ever_reached, self._conn.target, self._on_dropped)
