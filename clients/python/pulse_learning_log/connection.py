"""One gRPC channel to the service, with the call options every RPC shares:
the bearer token, the per-call timeout, retries of idempotent calls, the
mapping of failures to typed errors, and the run in force (the ``pulse-run``
metadata of unary calls, the ``run`` field of streamed events, and the hold
on the run while the connection logs into it)."""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, TypeVar

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from . import runs
from .diagnostics import logger
from .errors import DeadlineExceeded, LearningLogError, error_from_rpc
from .run_hold import RunHold
from .transport_security import credentials_from_environment, token_from_environment
from .writer_core import DEFAULT_LIMITS, ServerLimits

__all__ = ["CallOptions", "Connection", "Deadline", "DEFAULT_TARGET", "MESSAGE_BYTES_MAX", "SERVER_INFO_PATH", "ServerLimits", "default_target"]

T = TypeVar("T")

#: Where the server listens by default (the server's own default).
DEFAULT_TARGET = "127.0.0.1:50051"

#: The server's default largest message (--message-bytes-max); larger
#: requests are refused by the server anyway (RESOURCE_EXHAUSTED, not retried).
MESSAGE_BYTES_MAX = DEFAULT_LIMITS.message_bytes_max

_SERVICE = pb.DESCRIPTOR.services_by_name["LearningLogService"]

#: Method path of GetServerInfo (the server's limits).
SERVER_INFO_PATH = f"/{_SERVICE.full_name}/{_SERVICE.methods_by_name['GetServerInfo'].name}"


class Deadline:
    """The end of one call, over all its attempts (monotonic clock).

    :param timeout: seconds from now; None for no deadline.
    """

    __slots__ = ("timeout", "_end")

    def __init__(self, timeout: Optional[float]):
        self.timeout = timeout
        self._end = None if timeout is None else time.monotonic() + timeout

    def left(self) -> Optional[float]:
        """Seconds left (may be negative), or None without a deadline."""
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self._end is not None and time.monotonic() >= self._end


def default_target() -> str:
    """``PULSE_LEARNING_LOG_ADDR`` when set, else 127.0.0.1:50051."""
    return os.environ.get("PULSE_LEARNING_LOG_ADDR") or DEFAULT_TARGET


def _bearer_metadata(token: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    if token is None:
        return ()
    if not isinstance(token, str) or not token or any(c.isspace() or not c.isprintable() or ord(c) > 126 for c in token):
        raise ValueError("token must be a non-empty string of printable ASCII without spaces")
    return (("authorization", f"Bearer {token}"),)


class CallOptions:
    """What every call shares, whatever its channel: the target, the bearer
    token, the timeout of one call, the retry policy and the channel
    arguments. :class:`Connection` (grpc) and the asyncio client's
    connection (grpc.aio) add their channel.

    :param target: ``host:port``; default ``PULSE_LEARNING_LOG_ADDR`` or 127.0.0.1:50051.
    :param token: sent as ``authorization: Bearer <token>`` metadata on every
        call; default the token in the file ``PULSE_LEARNING_LOG_TOKEN_FILE``
        names, if set.
    :param credentials: ``grpc.ChannelCredentials`` (e.g. ``grpc.ssl_channel_credentials(...)``)
        for TLS; default from ``PULSE_LEARNING_LOG_CA`` (and
        ``PULSE_LEARNING_LOG_CERT`` / ``PULSE_LEARNING_LOG_KEY`` for mutual
        TLS) when set, else plaintext. See :mod:`~pulse_learning_log.transport_security`.
    :param timeout: seconds one call may take, all its attempts and the
        waits between them included; None for no limit. Default 10.
    :param retry_attempts: attempts of an idempotent call (one carrying an
        event_id, or a read) on UNAVAILABLE / RESOURCE_EXHAUSTED /
        DEADLINE_EXCEEDED (never on a message over the size limit), within
        the call's timeout. Default 4 (the first try and 3 retries).
    :param backoff_initial: first wait between attempts, in seconds, doubled
        each time up to ``backoff_max``; with jitter. Defaults 0.05 and 2.
    :param channel_options: extra ``grpc`` channel arguments.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
        timeout: Optional[float] = 10.0,
        retry_attempts: int = 4,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        channel_options: Sequence[Tuple[str, Any]] = (),
    ):
        if target is None:
            target = default_target()
        if not isinstance(target, str) or not target:
            raise ValueError("target must be a non-empty 'host:port' string")
        if credentials is not None and not isinstance(credentials, grpc.ChannelCredentials):
            raise ValueError("credentials must be grpc.ChannelCredentials (e.g. from grpc.ssl_channel_credentials)")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError("timeout must be a positive number of seconds or None")
        if isinstance(retry_attempts, bool) or not isinstance(retry_attempts, int) or retry_attempts < 1:
            raise ValueError("retry_attempts must be an integer >= 1")
        if token is None:
            token = token_from_environment()
        if credentials is None:
            credentials = credentials_from_environment()
        self.target = target
        self.timeout = timeout
        #: The metadata of every call: the bearer token.
        self.metadata = _bearer_metadata(token)
        self.retry_attempts = retry_attempts
        self.backoff_initial: float = backoff_initial
        self.backoff_max: float = backoff_max
        options = [
            ("grpc.max_send_message_length", MESSAGE_BYTES_MAX),
            ("grpc.max_receive_message_length", MESSAGE_BYTES_MAX),
            # Reconnect soon after a server restart. grpc re-resolves the
            # target after a connection fails and, by default, waits out a
            # resolver cooldown first: measured with grpcio 1.51, calls kept
            # failing for ~8 s after the server was back. With these, ~0.5 s.
            ("grpc.dns_min_time_between_resolutions_ms", 100),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
            *channel_options,
        ]
        self.credentials = credentials
        #: The channel arguments.
        self.channel_options: List[Tuple[str, Any]] = options
        self._hold: Optional[runs.Hold] = None
        self._hold_lock = threading.Lock()
        self._holds_ended = False  # closed: no new hold
        #: The server's limits once it told them (or said it cannot: the defaults).
        self._limits: Optional[ServerLimits] = None

    # -- the server's limits (GetServerInfo) -----------------------------------

    @property
    def known_limits(self) -> ServerLimits:
        """The server's limits if this connection has asked already, else the defaults."""
        return self._limits or DEFAULT_LIMITS

    def _limits_answer(self, response: Any, failure: Optional[LearningLogError]) -> Optional[ServerLimits]:
        """Keeps the answer to GetServerInfo (or the defaults, from a server
        without it: UNIMPLEMENTED); None when the server could not be asked
        now (it is asked again next time)."""
        if failure is not None:
            if failure.code != grpc.StatusCode.UNIMPLEMENTED:
                logger.debug("GetServerInfo failed (%s); asking again before the next stream", failure)
                return None
            limits = DEFAULT_LIMITS
        else:
            limits = ServerLimits(
                int(response.message_bytes_max) or DEFAULT_LIMITS.message_bytes_max,
                int(response.batch_events_max) or DEFAULT_LIMITS.batch_events_max,
                int(response.record_bytes_max) or DEFAULT_LIMITS.record_bytes_max,
            )
        self._limits = limits
        return limits

    # -- the run in force (see pulse_learning_log.runs) ------------------------
    # Every call goes through call_metadata() (unary calls, whose run is the
    # call's metadata) or event_run() (events framed for a stream, each
    # naming its own run, so one stream or batch may carry several).

    def call_metadata(self) -> Tuple[Tuple[str, str], ...]:
        """The metadata of a call made now: the bearer token and, while a run
        is in force, ``pulse-run`` (the run is then held, see :meth:`hold`)."""
        current = runs.current()
        if current.run is None:
            return self.metadata
        self.hold(current.run)
        return self.metadata + current.metadata

    def event_run(self) -> bytes:
        """The encoded ``LearningEvent.run`` field to append to an event
        logged now (b"" without a run; with one, the run is held)."""
        current = runs.current()
        if current.run is not None:
            self.hold(current.run)
        return current.event_field

    def hold(self, run: str) -> None:
        """Holds ``run`` open on the server (HoldRun) unless this connection
        already does; the hold ends when the run is no longer in force, the
        connection closes, or the interpreter exits."""
        hold = self._hold
        if hold is not None and hold.run == run and hold.alive:
            return
        with self._hold_lock:
            hold = self._hold
            if hold is not None and hold.run == run and hold.alive:
                return
            if self._holds_ended:
                return
            if hold is not None:
                hold.end()
            self._hold = hold = self._start_hold(run)
        runs.register_hold(hold)

    def _start_hold(self, run: str) -> runs.Hold:  # pragma: no cover - each transport has its own
        raise NotImplementedError

    def end_hold(self) -> None:
        """Ends this connection's hold, if any (on close)."""
        with self._hold_lock:
            self._holds_ended = True
            hold, self._hold = self._hold, None
        if hold is not None:
            hold.end()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (from 1): exponential with full jitter above half."""
        ceiling: float = min(self.backoff_max, self.backoff_initial * (2 ** (attempt - 1)))
        return ceiling * (0.5 + random.random() / 2)

    def deadline(self, timeout: Optional[float] = None) -> Deadline:
        """The deadline of one call: ``timeout`` seconds from now, default this connection's."""
        return Deadline(self.timeout if timeout is None else timeout)

    def time_for_attempt(self, deadline: Deadline, number: int) -> Optional[float]:
        """Seconds attempt ``number`` may take (None: no limit); raises
        :class:`DeadlineExceeded` when none are left."""
        left = deadline.left()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"no answer within the call's timeout of {deadline.timeout} s ({number - 1} attempts)")
        return left

    def pause_before_retry(self, err: LearningLogError, deadline: Deadline, number: int, idempotent: bool) -> float:
        """After attempt ``number`` failed with ``err``: the seconds to wait
        before the next one, or raises (``err`` when it is not to be
        retried, :class:`DeadlineExceeded` when no retry fits in the deadline).
        The one retry policy of the sync and asyncio clients."""
        if not (idempotent and err.retryable and number < self.retry_attempts):
            raise err
        if deadline.expired():
            # The attempt used up the call's time: no retry can fit.
            if err.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise err
            raise DeadlineExceeded(f"no answer within the call's timeout of {deadline.timeout} s; last attempt: {err}") from err
        pause = self.backoff(number)
        left = deadline.left()
        if left is not None and pause >= left:
            raise DeadlineExceeded(f"no answer within the call's timeout of {deadline.timeout} s; last attempt: {err}") from err
        return pause



class Connection(CallOptions):
    """A grpc channel plus the call options (see :class:`CallOptions` for
    the parameters). Thread-safe; share one per process."""

    def __init__(self, target: Optional[str] = None, **options: Any):
        super().__init__(target, **options)
        if self.credentials is not None:
            self.channel = grpc.secure_channel(self.target, self.credentials, options=self.channel_options)
        else:
            self.channel = grpc.insecure_channel(self.target, options=self.channel_options)

    def retrying(self, attempt: Callable[[Optional[float]], T], deadline: Deadline, *, idempotent: bool) -> T:
        """Runs ``attempt(seconds_left)`` until it returns, retrying a
        retryable :class:`LearningLogError` (:func:`is_retryable`) when
        ``idempotent``, at most ``retry_attempts`` times in all, all within
        ``deadline``: a call never takes longer than its timeout, however many
        attempts it makes. Out of time, it raises :class:`DeadlineExceeded`."""
        number = 1
        while True:
            try:
                return attempt(self.time_for_attempt(deadline, number))
            except LearningLogError as err:
                time.sleep(self.pause_before_retry(err, deadline, number, idempotent))
                number += 1

    def server_limits(self) -> Optional[ServerLimits]:
        """The server's limits, asked once per connection (GetServerInfo, one
        attempt, the first time they are needed): the defaults from a server
        without the method; None while the server cannot be asked."""
        if self._limits is not None:
            return self._limits
        call = self.channel.unary_unary(SERVER_INFO_PATH, request_serializer=pb.GetServerInfoRequest.SerializeToString, response_deserializer=pb.GetServerInfoResponse.FromString)
        try:
            response = call(pb.GetServerInfoRequest(), timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            return self._limits_answer(None, error_from_rpc(err))
        return self._limits_answer(response, None)

    def unary(self, method: Callable[..., Any], request: Any, *, idempotent: bool, timeout: Optional[float] = None) -> Any:
        """Calls a unary ``method`` of a stub within one deadline (``timeout``,
        default the connection's) covering every attempt; retries retryable
        failures when ``idempotent``; raises the typed :class:`LearningLogError`."""

        metadata = self.call_metadata()  # one run for every attempt

        def attempt(left: Optional[float]) -> Any:
            try:
                return method(request, timeout=left, metadata=metadata)
            except grpc.RpcError as err:
                raise error_from_rpc(err) from err

        return self.retrying(attempt, self.deadline(timeout), idempotent=idempotent)

    def _start_hold(self, run: str) -> runs.Hold:
        return RunHold(self.channel, self.metadata, run)

    def close(self) -> None:
        """Ends the run's hold and closes the channel; calls in progress are cancelled."""
        self.end_hold()
        self.channel.close()
