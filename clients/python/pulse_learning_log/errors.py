"""Typed errors of the client: one class per gRPC status the service answers.

The original module printed I/O errors and carried on; this client raises a
:class:`LearningLogError` carrying the gRPC status code and message instead
(unless the client is quiet, see ``LearningLogClient(quiet=True)``).
"""

from __future__ import annotations

from typing import Dict, Optional, Type

import grpc

__all__ = [
    "LearningLogError",
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
    "status_code",
    "error_from_rpc",
]

#: Statuses after which resending the same events (same event_ids) is safe and
#: may succeed: the server's own table (``retryableCodes`` in src/errors.ts).
RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

_CODE_BY_NUMBER: Dict[int, grpc.StatusCode] = {c.value[0]: c for c in grpc.StatusCode}


def status_code(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of a numeric status (as in ``EventError.code``)."""
    return _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


class LearningLogError(Exception):
    """A call to the learning log service failed.

    ``code`` is the ``grpc.StatusCode`` and ``details`` the server's message,
    which names the offending field for ``INVALID_ARGUMENT``.
    """

    #: The status this class stands for (subclasses set it).
    default_code = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, code: Optional[grpc.StatusCode] = None):
        self.code = code if code is not None else self.default_code
        self.details = details
        super().__init__(f"{self.code.name}: {details}")

    @property
    def retryable(self) -> bool:
        """True when resending with the same event_ids may succeed."""
        return self.code in RETRYABLE_CODES


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


def error_for(code: grpc.StatusCode, details: str) -> LearningLogError:
    """The typed error of a status."""
    return _CLASS_BY_CODE.get(code, LearningLogError)(details, code)


def error_from_rpc(err: grpc.RpcError) -> LearningLogError:
    """Turns a ``grpc.RpcError`` into its typed error (the cause is chained by the caller)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return error_for(code or grpc.StatusCode.UNKNOWN, details or "")
