"""Typed errors of the client: one class per gRPC status the service answers.

The original module printed I/O errors and carried on; this client raises a
:class:`LearningLogError` carrying the gRPC status code and message instead
(unless the client is quiet, see ``LearningLogClient(quiet=True)``).

When the server refuses specific request fields it also sends gRPC's rich
error model: the trailer ``grpc-status-details-bin`` holds a ``google.rpc.Status``
whose details carry a ``google.rpc.BadRequest``. Its field violations become
:attr:`LearningLogError.field_violations`.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Type

import grpc

# google.rpc.Status / BadRequest, shipped with the client (see _gen: those of
# googleapis-common-protos when it is installed, the same messages).
from ._gen.google.rpc import error_details_pb2, status_pb2

__all__ = [
    "LearningLogError",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "ResourceExhausted",
    "FailedPrecondition",
    "Unavailable",
    "Unimplemented",
    "DeadlineExceeded",
    "Cancelled",
    "Internal",
    "BufferFull",
    "RETRYABLE_CODES",
    "is_retryable",
    "status_code",
    "error_from_rpc",
    "field_violations_from_rpc",
    "never_connected",
    "describe_failure",
]

#: Statuses after which resending the same events with the same event_ids is
#: safe and may succeed: UNAVAILABLE (server down, restarting or its storage
#: failed), RESOURCE_EXHAUSTED (write queue or disk full) and DEADLINE_EXCEEDED
#: (no answer in time). The request may or may not have been written (a
#: timeout or a dropped connection cannot tell), and that is why the same
#: event_ids must be resent: the server answers an event_id it already wrote
#: (within its dedup window, ``--dedup-window``) as a duplicate with the
#: original seq instead of writing it twice. Other statuses refuse the request
#: itself (a bad value, a missing token, a path outside the trust directory):
#: sending it unchanged gets the same answer, so it is not retried.
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

# What grpc says when a message is over the size limit, on either side
# (grpc core: "Sent message larger than max (N vs. M)"; grpc-js on the server:
# "Received message larger than max (N vs. M)"). The status is
# RESOURCE_EXHAUSTED, but the same message can never fit: not retryable.
_OVER_SIZE_MARK = "larger than max"


def is_retryable(code: grpc.StatusCode, details: str = "") -> bool:
    """True when resending the same request (same event_ids) may succeed:
    a status in :data:`RETRYABLE_CODES`, unless it says the message is over
    the size limit (RESOURCE_EXHAUSTED ``... larger than max ...``), which no
    resend can fix."""
    if code not in RETRYABLE_CODES:
        return False
    return not (code == grpc.StatusCode.RESOURCE_EXHAUSTED and _OVER_SIZE_MARK in details)


_CODE_BY_NUMBER: Dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}


def status_code(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of a numeric status (as in ``EventError.code``)."""
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


class FieldViolation(NamedTuple):
    """A request field the server refused (a ``google.rpc.BadRequest`` field
    violation): ``field`` is its path in the request, e.g. ``old_weight``,
    ``data.deep.v`` or ``events[3].variable_weight_change.old_weight``, and
    ``description`` says what is wrong with it."""

    field: str
    description: str


class LearningLogError(Exception):
    """A call to the learning log service failed.

    ``code`` is the ``grpc.StatusCode`` and ``details`` the server's message,
    which names the offending field for ``INVALID_ARGUMENT``.
    ``field_violations`` holds the refused fields as :class:`FieldViolation`
    tuples when the server sent them (``grpc-status-details-bin``), else ``()``.
    """

    #: The status this class stands for (subclasses set it).
    default_code = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        details: str,
        code: Optional[grpc.StatusCode] = None,
        *,
        field_violations: Tuple[FieldViolation, ...] = (),
    ):
        self.code = code if code is not None else self.default_code
        self.details = details
        self.field_violations: Tuple[FieldViolation, ...] = tuple(field_violations)
        super().__init__(f"{self.code.name}: {details}")

    @property
    def retryable(self) -> bool:
        """True when resending with the same event_ids may succeed (see :func:`is_retryable`)."""
        return is_retryable(self.code, self.details)


class InvalidArgument(LearningLogError, ValueError):
    """The server rejected a value (the message names the field).

    Also a ``ValueError``, like the original module's argument errors.
    """

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LearningLogError):
    """NOT_FOUND."""

    default_code = grpc.StatusCode.NOT_FOUND


class PermissionDenied(LearningLogError):
    """PERMISSION_DENIED: e.g. a trust file path outside the trust directory."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(LearningLogError):
    """UNAUTHENTICATED: a missing or wrong token."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(LearningLogError):
    """RESOURCE_EXHAUSTED: the server's write queue or disk is full (retryable)."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(LearningLogError):
    """FAILED_PRECONDITION."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(LearningLogError):
    """UNAVAILABLE: the server is down, restarting or its storage failed (retryable)."""

    default_code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(LearningLogError):
    """UNIMPLEMENTED: the server does not offer this RPC (yet)."""

    default_code = grpc.StatusCode.UNIMPLEMENTED


class DeadlineExceeded(LearningLogError):
    """DEADLINE_EXCEEDED: no answer within the timeout (retryable)."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(LearningLogError):
    """CANCELLED."""

    default_code = grpc.StatusCode.CANCELLED


class Internal(LearningLogError):
    """INTERNAL: a server bug or an undecodable message."""

    default_code = grpc.StatusCode.INTERNAL


class BufferFull(LearningLogError):
    """A :class:`~pulse_learning_log.BatchWriter`'s buffer is full (raised
    instead of blocking when it was built with ``on_full="raise"`` or when
    ``block_timeout`` passed). Nothing was buffered."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


_CLASS_BY_CODE: Dict[grpc.StatusCode, Type[LearningLogError]] = {
    cls.default_code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        FailedPrecondition,
        Unavailable,
        Unimplemented,
        DeadlineExceeded,
        Cancelled,
        Internal,
    )
}


def error_for(code: grpc.StatusCode, details: str, field_violations: Tuple[FieldViolation, ...] = ()) -> LearningLogError:
    """The typed error of a status."""
    return _CLASS_BY_CODE.get(code, LearningLogError)(details, code, field_violations=field_violations)


_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def field_violations_from_rpc(err: Any) -> Tuple[FieldViolation, ...]:
    """The field violations of the ``google.rpc.BadRequest`` details in the
    ``grpc-status-details-bin`` trailer of a ``grpc.RpcError``, in order.

    ``()`` when there is no such trailer, when it does not decode, or when
    its status code is not the call's. Never raises."""
    try:
        if not hasattr(err, "trailing_metadata"):
            return ()
        raw = None
        for key, value in err.trailing_metadata() or ():
            if key == _STATUS_DETAILS_KEY:
                raw = value
        if not isinstance(raw, (bytes, bytearray)):
            return ()
        status = status_pb2.Status.FromString(bytes(raw))
        code = err.code() if hasattr(err, "code") else None
        if code is not None and status.code != code.value[0]:
            return ()  # Not about this status (e.g. a proxy replaced it).
        violations: List[FieldViolation] = []
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                if detail.Unpack(bad_request):
                    violations.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
        return tuple(violations)
    except Exception:  # noqa: BLE001 - a broken trailer must not hide the status itself
        return ()


def error_from_rpc(err: grpc.RpcError, code: Optional[grpc.StatusCode] = None) -> LearningLogError:
    """Turns a ``grpc.RpcError`` into its typed error, with the field
    violations of its trailers (the cause is chained by the caller). ``code``
    overrides the call's status (e.g. a cancel that stood for a timeout)."""
    if code is None:
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return error_for(code or grpc.StatusCode.UNKNOWN, details or "", field_violations_from_rpc(err))


# What grpc core says when a call found no connection to the server (it was
# never sent): "failed to connect to all addresses; last error: UNKNOWN:
# ipv4:127.0.0.1:9: Failed to connect to remote host: Connection refused",
# or a name that does not resolve.
_NEVER_CONNECTED = ("failed to connect to all addresses", "DNS resolution failed")
# The address and the socket's own words at the end of grpc core's "last error".
_LAST_ERROR = re.compile(r"last error: (?:\w+: )?(?:ipv4:|ipv6:|unix:)?(?P<address>\S+?): (?:.*: )?(?P<what>[^:;]+?)\s*$")


def never_connected(error: LearningLogError) -> bool:
    """True when the failed call never reached a server (UNAVAILABLE with
    no connection: refused, unreachable, a name that does not resolve), so
    nothing it carried was received."""
    return error.code == grpc.StatusCode.UNAVAILABLE and any(mark in error.details for mark in _NEVER_CONNECTED)


def describe_failure(error: LearningLogError) -> str:
    """A short cause for people: ``UNAVAILABLE: connection refused at
    127.0.0.1:9`` from grpc core's long connection message, else the
    status and its details as they are."""
    match = _LAST_ERROR.search(error.details) if error.code == grpc.StatusCode.UNAVAILABLE else None
    if match is not None:
        what = match["what"]
        return f"{error.code.name}: {what[:1].lower()}{what[1:]} at {match['address']}"
    return f"{error.code.name}: {error.details}"
