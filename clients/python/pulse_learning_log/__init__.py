"""Client of the Pulse learning log service: a drop-in for ``core/pulse_learning_log.py``.

Switch with one import::

    from pulse_learning_log import log_learning_event, log_variable_weight_change, bayesian_trust_tracker

The module-level functions have the original's names and arguments and use
a default :class:`LearningLogClient`, created on first use (one per process),
that talks to ``PULSE_LEARNING_LOG_ADDR`` (default ``127.0.0.1:50051``) over
one shared IngestEvents stream; change it with :func:`configure`.

In durable mode (the default) each returns once the record is durable on the
server and returns its :class:`Ack` (the original returned None). In
background mode (``PULSE_LEARNING_LOG_MODE=background`` or
``configure(mode="background")``) each buffers its event and returns None at
once; :func:`flush` waits until all are durable, and events it has to
give up make the interpreter exit non-zero (see
:mod:`pulse_learning_log.loss`). Failures raise
:class:`LearningLogError`; ``set_quiet(True)`` (or the environment variable
``PULSE_LEARNING_LOG_QUIET=1``) logs them and carries on, as the original
printed and carried on. Everything the client reports goes to the
``logging`` logger ``pulse_learning_log``.

Every event carries the process's run when one is named (see
:mod:`pulse_learning_log.runs`): ``PULSE_LEARNING_LOG_RUN``,
``configure(run=...)``, or ``with pulse_learning_log.run("exp-42", params={...}):``
(which also logs ``run_started`` and ``run_finished``). TLS and the token
come from the environment variables ``pulse-log`` reads (see
:mod:`pulse_learning_log.transport_security`) unless given.

For high volumes from one place use :class:`BatchWriter`; for asyncio,
:mod:`pulse_learning_log.aio`; to feed the log from ``logging`` calls,
:class:`PulseLogHandler`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Union

from . import fork_support  # noqa: F401 - first: before anything imports grpc

from .batch_writer import BatchWriter
from .client import LearningLogClient
from .connection import DEFAULT_TARGET, Connection
from .default_logger import DefaultLogger
from .errors import (
    RETRYABLE_CODES,
    BufferFull,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    LearningLogError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from .log_handler import EventSink, PulseLogHandler
from .loss import exit_status_for, set_exit_on_loss
from .reads import RUN_STATUSES, LogRecord, RunInfo, RunList
from .results import Ack, BatchAck, DecayResult, ExportResult, Rejection, TrustMetricsAck, TrustUpdate
from .run_block import RunBlock
from .runs import check_run_id, configure_run, run_from_path
from .trust import TrustTracker

# The log_* functions, one per event (generated from the proto: see events.py).
from . import _surfaces
from ._surfaces import *  # noqa: F401,F403

__all__ = [
    "LearningLogClient",
    "BatchWriter",
    "TrustTracker",
    "PulseLogHandler",
    "Ack",
    "TrustMetricsAck",
    "BatchAck",
    "Rejection",
    "TrustUpdate",
    "DecayResult",
    "ExportResult",
    "LogRecord",
    "RunInfo",
    "RunList",
    "RUN_STATUSES",
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
    "DEFAULT_TARGET",
    "configure",
    "run",
    "RunBlock",
    "check_run_id",
    "run_from_path",
    "set_quiet",
    "flush",
    "get_client",
    "close",
    "PulseLearningLogger",
    "bayesian_trust_tracker",
    "log_learning_event",
    "generate_trust_report",
    "export_trust_data",
    "import_trust_data",
]
__all__ += _surfaces.__all__

__version__ = "0.1.0"

#: The module functions' logger: settings, mode, this process's client and writer.
_default = DefaultLogger()


def get_client() -> LearningLogClient:
    """The default client of the module-level functions, created on first use
    (one per process: a forked child gets its own). Its ``log_*`` calls share
    one IngestEvents stream (``stream=True``)."""
    return _default.client()


def configure(
    target: Optional[str] = None,
    *,
    mode: Optional[str] = None,
    on_error: Optional[Callable[[Rejection], None]] = None,
    run: Optional[str] = None,
    exit_on_loss: Union[None, bool, int] = None,
    **options: Any,
) -> None:
    """Sets how the module-level functions log, replacing earlier settings;
    ``configure()`` with no arguments restores the defaults. The current
    default client (and background writer, flushed first) is closed; the
    next call creates new ones.

    :param target: ``host:port``; default ``PULSE_LEARNING_LOG_ADDR`` or 127.0.0.1:50051.
    :param mode: ``"durable"`` (each call returns once its event is durable)
        or ``"background"`` (each call buffers its event and returns None at
        once; see :func:`flush`). Default: the environment variable
        ``PULSE_LEARNING_LOG_MODE``, else durable.
    :param on_error: background mode: called with a :class:`Rejection` for
        every event that will not be written after its call returned
        (refused by the server, or given up: the writer failed, or the
        interpreter's exit ran out of ``exit_timeout``). Each is also logged
        (logger ``pulse_learning_log``, ERROR) whether or not this is set.
    :param run: the run every event of the process belongs to, from now on
        and on every client (module functions, clients, writers, handler,
        trust tracker): 1 to 128 printable ASCII characters other than
        ``"`` and ``\\`` (else ``ValueError``). Over ``PULSE_LEARNING_LOG_RUN``;
        an open :func:`run` block is over it. Default: the environment's
        (re-read by every ``configure``).
    :param exit_on_loss: what the interpreter's exit does when events were
        given up (never sent, or sent without an answer: see
        :mod:`pulse_learning_log.loss`): ``True`` exits with status 1, an
        integer 1 to 255 with that status, ``False`` (or 0) keeps the
        interpreter's status (the loss is still logged). Default: the
        environment variable ``PULSE_LEARNING_LOG_EXIT_ON_LOSS``, else status 1.
    :param options: any keyword of :class:`LearningLogClient` (``token``,
        ``credentials``, ``timeout``, ``retry_attempts``,
        ``echo_trust_metrics``, ``quiet``) and, for background mode, of
        :class:`BatchWriter`: ``on_full`` (``"block"`` or ``"raise"``),
        ``block_timeout``, ``buffer_events_max``, ``buffer_bytes_max``,
        ``flush_interval``, ``batch_events_max``, ``exit_timeout`` (default 10 s).
    """
    if run is not None:
        check_run_id(run)
    if exit_on_loss is not None:
        exit_status_for(exit_on_loss)  # refuses a bad value before anything changes
    _default.configure(target, mode, on_error, dict(options))
    configure_run(run)
    set_exit_on_loss(exit_on_loss)


def run(run_id: str, params: Optional[Dict[str, Any]] = None, *, client: Optional[EventSink] = None) -> RunBlock:
    """``with run("exp-42", params={...}):`` puts the run in force for every
    event the process logs, over ``configure(run=...)`` and
    ``PULSE_LEARNING_LOG_RUN``, until the block ends. It logs
    ``run_started`` (data ``{"params": params, "pid": ..., "host": ...}``)
    on the way in and ``run_finished`` on the way out: ``{"status":
    "finished"}``, or when the block raises ``{"status": "failed", "error":
    {"type": ..., "message": ...}}`` and the exception propagates. While the
    run is in force the client holds it open on the server (HoldRun), so a
    process that dies in the block leaves its run listed as ended without a
    finish record. For asyncio: ``async with pulse_learning_log.aio.run(...)``.

    :param run_id: 1 to 128 printable ASCII characters other than ``"`` and
        ``\\``; else ``ValueError``.
    :param params: the run's parameters (a dict of JSON values).
    :param client: a :class:`LearningLogClient` or :class:`BatchWriter`
        (flushed after ``run_finished``) to log the two records with;
        default the module functions (durable or background mode, flushed).
    """
    if client is None:
        return RunBlock(run_id, params, lambda event_type, data: log_event(event_type, data), flush)
    sink = client
    return RunBlock(run_id, params, lambda event_type, data: sink.log_event(event_type, data), getattr(sink, "flush", None))


def set_quiet(quiet: bool = True) -> None:
    """Module-level quiet mode: a failed call logs ``[LearningLog] ...``
    (logger ``pulse_learning_log``, ERROR) and returns None (False for
    export/import) instead of raising, as the original printed and carried on."""
    _default.set_quiet(quiet)


def flush(timeout: Optional[float] = None) -> None:
    """Returns once every event logged so far by the module functions is
    durable. In background mode it waits for the writer (``TimeoutError``
    after ``timeout`` seconds; the writer's fatal error if it failed); in
    durable mode every call was durable when it returned, so it returns at once."""
    _default.flush(timeout)


def close() -> None:
    """Flushes (background mode, within ``exit_timeout``) and closes the
    default client; a later call creates a new one. Events that could not be
    written have been reported (logger ``pulse_learning_log``, ``on_error``);
    ``close`` itself does not raise: call :func:`flush` first to get the error."""
    _default.close()


def PulseLearningLogger() -> LearningLogClient:  # noqa: N802 - the original class name
    """The original's singleton logger: here, the default client."""
    return get_client()


class _DefaultTrustTracker(TrustTracker):
    """The module-level ``bayesian_trust_tracker``: a :class:`TrustTracker` on
    the default client (follows :func:`configure` and :func:`set_quiet`)."""

    def __init__(self) -> None:  # no connection of its own
        pass

    def _connection(self) -> Tuple[Connection, Any]:
        return get_client().trust._connection()

    def _is_quiet(self) -> bool:
        return get_client().quiet

    @property
    def quiet(self) -> bool:
        return _default.quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        set_quiet(value)


#: The original ``bayesian_trust_tracker``, served by the server (pulse.trust.v1.TrustService).
bayesian_trust_tracker: TrustTracker = _DefaultTrustTracker()


# The log_* functions (one per row of events.CATALOG, each forwarding its
# event and arguments to the default logger: durable, the Ack; background,
# None) are generated into _surfaces and imported above; here the original
# module-level alias of log_event.


def log_learning_event(event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """The original module-level name of :func:`log_event`."""
    return log_event(event_type, data, context, event_id=event_id)


def generate_trust_report(min_samples: int = 5, **thresholds: Any) -> Optional[Dict[str, Any]]:
    """Builds and logs the trust report (see :meth:`LearningLogClient.generate_trust_report`)."""
    return _default.synchronous().generate_trust_report(min_samples, **thresholds)


def export_trust_data(filepath: str) -> bool:
    """Exports the trust state to a file in the server's trust directory; True on success."""
    return _default.synchronous().export_trust_data(filepath)


def import_trust_data(filepath: str) -> bool:
    """Imports the trust state from a file in the server's trust directory; False when missing."""
    return _default.synchronous().import_trust_data(filepath)
