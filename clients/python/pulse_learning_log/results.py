"""What the client returns: small immutable tuples and plain dicts, built from
the response messages so callers never handle protobuf types."""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple

import grpc

__all__ = [
    "Ack",
    "TrustMetricsAck",
    "Rejection",
    "BatchAck",
    "TrustUpdate",
    "DecayResult",
    "ExportResult",
    "ack_from_proto",
    "trust_metrics_ack_from_proto",
    "stats_from_metrics",
    "report_from_proto",
    "record_from_proto",
]


class Ack(NamedTuple):
    """Confirms that one event is durable (fsynced) in the log.

    The original module's ``log_*`` methods returned None; this client returns
    an Ack (a tuple, always truthy) so callers that ignored the result keep
    working and others can see where the record landed.
    """

    #: The record's event_id (a UUID string).
    event_id: str
    #: The record's sequence number, strictly increasing across the log.
    seq: int
    #: The record's timestamp as written, e.g. ``2026-11-24T19:05:53.700123+00:00``
    #: (None only from a server too old to send it on the shared stream).
    timestamp: Optional[str]
    #: Paths of fields the server's PII guard redacted, if any (each path is
    #: also logged once per process as a warning, logger ``pulse_learning_log``).
    redacted_fields: Tuple[str, ...]
    #: True when the event_id had been written before (a retry): nothing was
    #: written again and seq/timestamp are the original record's.
    duplicate: bool


class TrustMetricsAck(NamedTuple):
    """The Ack of ``log_bayesian_trust_metrics`` plus the metrics it logged."""

    event_id: str
    seq: int
    timestamp: str
    redacted_fields: Tuple[str, ...]
    duplicate: bool
    #: The key's stats as :meth:`TrustTracker.get_stats` returns them.
    metrics: Dict[str, Any]


class Rejection(NamedTuple):
    """One event a BatchWriter sent that the server refused (nothing was written for it)."""

    #: The event_id the writer gave the event.
    event_id: str
    #: The status the event would have had alone (usually INVALID_ARGUMENT).
    code: grpc.StatusCode
    #: Why, naming the field (e.g. ``events[3].generic.event_type: ...``).
    message: str
    #: The event as sent (a ``pulse.learninglog.v1.LearningEvent``).
    event: Any


class BatchAck(NamedTuple):
    """The server's answer to one batch of a BatchWriter, once durable."""

    batch_id: int
    #: Events in the batch.
    size: int
    #: Events accepted (written now or before), duplicates included. (Named
    #: as the proto's field; it shadows tuple.count on this tuple.)
    count: int  # type: ignore[assignment]
    #: Accepted events that had been written before (resent after a reconnect).
    duplicates: int
    #: Lowest and highest seq of the batch's accepted events (0 when none).
    first_seq: int
    last_seq: int
    #: Rejected events of this batch.
    rejections: Tuple[Rejection, ...]
    #: ``(event_id, redacted field paths)`` of each event of this batch whose
    #: fields the server's PII guard redacted (each path is also logged once
    #: per process as a warning, logger ``pulse_learning_log``).
    redactions: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    #: The timestamp of the record at ``last_seq`` ("" when none was accepted).
    timestamp: str = ""


def batch_ack(batch_id: int, size: int, response: Any, rejections: Tuple[Rejection, ...], redactions: Tuple[Tuple[str, Tuple[str, ...]], ...]) -> BatchAck:
    """The :class:`BatchAck` of one ``IngestEventsResponse``."""
    return BatchAck(
        batch_id, size, response.count, response.duplicates, int(response.first_seq), int(response.last_seq), rejections, redactions, response.timestamp
    )


class TrustUpdate(NamedTuple):
    """The result of a trust tracker update."""

    #: Sequence number of the audit record of this update in the learning log.
    seq: int
    #: ``update``: the key's stats after the update; ``batch_update``: a dict
    #: of key -> stats for every key touched.
    stats: Dict[str, Any]


class DecayResult(NamedTuple):
    """The result of ``apply_decay`` / ``apply_global_decay``."""

    #: How many keys changed.
    keys_decayed: int
    #: Sequence number of the audit record of the decay.
    seq: int


class ExportResult(NamedTuple):
    """The result of ``export_to_file``."""

    #: The path written, relative to the server's trust directory.
    path: str
    #: Keys written.
    key_count: int


def ack_from_proto(ack: Any) -> Ack:
    """An EventAck message as an :class:`Ack`."""
    return Ack(ack.event_id, int(ack.seq), ack.timestamp, tuple(ack.redacted_fields), bool(ack.duplicate))


def trust_metrics_ack_from_proto(ack: Any, metrics: Dict[str, Any]) -> TrustMetricsAck:
    """An EventAck message and the metrics logged as a :class:`TrustMetricsAck`."""
    return TrustMetricsAck(ack.event_id, int(ack.seq), ack.timestamp, tuple(ack.redacted_fields), bool(ack.duplicate), metrics)


def stats_from_metrics(m: Any) -> Dict[str, Any]:
    """A KeyMetrics message as the dict ``get_stats`` returns."""
    last_update: Optional[float] = m.last_update if m.HasField("last_update") else None
    return {
        "key": m.key,
        "trust": m.trust,
        "confidence_interval": (m.confidence_lower, m.confidence_upper),
        "confidence_strength": m.confidence_strength,
        "sample_size": int(m.sample_size),
        "alpha": m.alpha,
        "beta": m.beta,
        "last_update": last_update,
    }


def report_from_proto(report: Any) -> Dict[str, Any]:
    """A TrustReport message as a dict: ``summary`` (the same object the
    ``trust_report_generated`` record holds), ``high_trust`` and ``low_trust``
    (lists of stats dicts, highest / lowest trust first)."""
    s = report.summary
    return {
        "summary": {
            "total_keys": s.total_keys,
            "reported_keys": s.reported_keys,
            "mean_trust": s.mean_trust,
            "high_trust_count": s.high_trust_count,
            "low_trust_count": s.low_trust_count,
            "min_samples": s.min_samples,
            "high_threshold": s.high_threshold,
            "low_threshold": s.low_threshold,
        },
        "high_trust": [stats_from_metrics(m) for m in report.high_trust],
        "low_trust": [stats_from_metrics(m) for m in report.low_trust],
    }


def record_from_proto(r: Any) -> Dict[str, Any]:
    """A TrustRecord message as a dict (``export_records``)."""
    return {
        "key": r.key,
        "alpha": r.alpha,
        "beta": r.beta,
        "last_update": r.last_update if r.HasField("last_update") else None,
        "history": [(p.time, p.trust) for p in r.history],
    }
