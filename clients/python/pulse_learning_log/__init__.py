"""Client of the Pulse learning log service: a drop-in for ``core/pulse_learning_log.py``.

Switch with one import::

    from pulse_learning_log import log_learning_event, log_variable_weight_change, bayesian_trust_tracker

The module-level functions have the original's names and arguments and use
a default :class:`LearningLogClient`, created on first use, that talks to
``PULSE_LEARNING_LOG_ADDR`` (default ``127.0.0.1:50051``); change it with
:func:`configure`. Each returns once the record is durable on the server and
returns its :class:`Ack` (the original returned None). Failures raise
:class:`LearningLogError`; ``set_quiet(True)`` (or the environment variable
``PULSE_LEARNING_LOG_QUIET=1``) restores the original's print-and-continue.

For high volumes use :class:`BatchWriter`.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

from .batch_writer import BatchWriter
from .client import LearningLogClient
from .connection import DEFAULT_TARGET
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
from .results import Ack, BatchAck, DecayResult, ExportResult, Rejection, TrustMetricsAck, TrustUpdate
from .trust import TrustTracker

__all__ = [
    "LearningLogClient",
    "BatchWriter",
    "TrustTracker",
    "Ack",
    "TrustMetricsAck",
    "BatchAck",
    "Rejection",
    "TrustUpdate",
    "DecayResult",
    "ExportResult",
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
    "set_quiet",
    "get_client",
    "close",
    "PulseLearningLogger",
    "bayesian_trust_tracker",
    "log_event",
    "log_learning_event",
    "log_variable_weight_change",
    "log_symbolic_upgrade",
    "log_revision_trigger",
    "log_arc_regret",
    "log_learning_summary",
    "log_rule_activation",
    "log_bayesian_trust_metrics",
    "log_rule_effectiveness",
    "generate_trust_report",
    "export_trust_data",
    "import_trust_data",
]

__version__ = "0.1.0"

_lock = threading.Lock()
_client: Optional[LearningLogClient] = None
_settings: Dict[str, Any] = {}
_quiet: bool = os.environ.get("PULSE_LEARNING_LOG_QUIET", "").strip().lower() in ("1", "true", "yes", "on")


def get_client() -> LearningLogClient:
    """The default client of the module-level functions, created on first use."""
    global _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            _client = LearningLogClient(**_settings, quiet=_quiet)
        return _client


def configure(target: Optional[str] = None, **options: Any) -> None:
    """Sets how the default client connects, replacing earlier settings:
    ``target`` and any keyword of :class:`LearningLogClient` (``token``,
    ``credentials``, ``timeout``, ``retry_attempts``, ``echo_trust_metrics``,
    ``quiet``). ``configure()`` with no arguments restores the defaults. The
    current default client, if any, is closed; the next call creates one."""
    global _client, _settings, _quiet
    if "quiet" in options:
        _quiet = bool(options.pop("quiet"))
    settings = dict(options)
    if target is not None:
        settings["target"] = target
    # Fail now, not on the first log call, when the settings are wrong.
    LearningLogClient(**settings).close()
    with _lock:
        old, _client, _settings = _client, None, settings
    if old is not None:
        old.close()


def set_quiet(quiet: bool = True) -> None:
    """Module-level quiet mode: failed calls print ``[LearningLog] ...`` and
    return None (False for export/import) instead of raising, as the original did."""
    global _quiet
    _quiet = bool(quiet)
    with _lock:
        if _client is not None:
            _client.quiet = _quiet


def close() -> None:
    """Closes the default client (a later call creates a new one)."""
    global _client
    with _lock:
        old, _client = _client, None
    if old is not None:
        old.close()


def PulseLearningLogger() -> LearningLogClient:  # noqa: N802 - the original class name
    """The original's singleton logger: here, the default client."""
    return get_client()


class _DefaultTrustTracker(TrustTracker):
    """The module-level ``bayesian_trust_tracker``: a :class:`TrustTracker` on
    the default client (follows :func:`configure` and :func:`set_quiet`)."""

    def __init__(self) -> None:  # no connection of its own
        pass

    def _connection(self) -> Any:
        return get_client().trust._connection()

    def _is_quiet(self) -> bool:
        return get_client().quiet

    @property
    def quiet(self) -> bool:  # type: ignore[override]
        return _quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        set_quiet(value)


#: The original ``bayesian_trust_tracker``, served by the server (pulse.trust.v1.TrustService).
bayesian_trust_tracker: TrustTracker = _DefaultTrustTracker()


# One thin wrapper per row of events.CATALOG (plus the original alias
# log_learning_event), with the original signature: each forwards to the
# default client's method of the same name.


def log_event(event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs an event of any type (see :meth:`LearningLogClient.log_event`)."""
    return get_client().log_event(event_type, data, context, event_id=event_id)


def log_learning_event(event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """The original module-level name of :func:`log_event`."""
    return get_client().log_event(event_type, data, context, event_id=event_id)


def log_variable_weight_change(var: str, old_weight: float, new_weight: float, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``variable_weight_update``."""
    return get_client().log_variable_weight_change(var, old_weight, new_weight, event_id=event_id)


def log_symbolic_upgrade(plan: Dict[str, Any], *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``symbolic_upgrade_applied``."""
    return get_client().log_symbolic_upgrade(plan, event_id=event_id)


def log_revision_trigger(reason: str, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``symbolic_revision_triggered``."""
    return get_client().log_revision_trigger(reason, event_id=event_id)


def log_arc_regret(scores: Dict[str, float], *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``symbolic_arc_regret``."""
    return get_client().log_arc_regret(scores, event_id=event_id)


def log_learning_summary(summary: Dict[str, Any], *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``meta_learning_summary``."""
    return get_client().log_learning_summary(summary, event_id=event_id)


def log_rule_activation(
    rule_id: str,
    variable_id: str,
    outcome: Any,
    forecast_id: Optional[str] = None,
    success: Optional[bool] = None,
    *,
    event_id: Optional[str] = None,
) -> Optional[Ack]:
    """Logs ``rule_activation``."""
    return get_client().log_rule_activation(rule_id, variable_id, outcome, forecast_id, success, event_id=event_id)


def log_bayesian_trust_metrics(key: str, kind: str = "variable", *, event_id: Optional[str] = None) -> Optional[TrustMetricsAck]:
    """Logs ``bayesian_trust_metrics`` of a key, read from the server's tracker."""
    return get_client().log_bayesian_trust_metrics(key, kind, event_id=event_id)


def log_rule_effectiveness(rule_id: str, activation_count: int, success_rate: float, impact_score: float, *, event_id: Optional[str] = None) -> Optional[Ack]:
    """Logs ``rule_effectiveness``."""
    return get_client().log_rule_effectiveness(rule_id, activation_count, success_rate, impact_score, event_id=event_id)


def generate_trust_report(min_samples: int = 5, **thresholds: Any) -> Optional[Dict[str, Any]]:
    """Builds and logs the trust report (see :meth:`LearningLogClient.generate_trust_report`)."""
    return get_client().generate_trust_report(min_samples, **thresholds)


def export_trust_data(filepath: str) -> bool:
    """Exports the trust state to a file in the server's trust directory; True on success."""
    return get_client().export_trust_data(filepath)


def import_trust_data(filepath: str) -> bool:
    """Imports the trust state from a file in the server's trust directory; False when missing."""
    return get_client().import_trust_data(filepath)
