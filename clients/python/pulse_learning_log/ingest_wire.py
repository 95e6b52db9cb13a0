"""The IngestEvents wire: the method's path and the framing of its batches.

An ``IngestEventsRequest`` is field ``batch_id`` (a varint) followed by field
``events`` (length-delimited) once per event: exactly protobuf's encoding of
the message. Both writers of the stream (the BatchWriter and the shared
durable stream) encode each event once, frame it, and assemble a request by
concatenating bytes instead of building a message.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Sequence, Tuple

from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .diagnostics import warn_redacted, note_redaction_reasons
from .events import _SMALL_VARINTS, CATALOG, varint

__all__ = ["INGEST_PATH", "SERVER_BATCH_EVENTS_MAX", "frame_event", "batch_request", "unframe_event", "event_type_of", "batch_redactions"]

_SERVICE = pb.DESCRIPTOR.services_by_name["LearningLogService"]
_INGEST = _SERVICE.methods_by_name["IngestEvents"]

#: Method path of IngestEvents: /<service full name>/<method name>.
INGEST_PATH = f"/{_SERVICE.full_name}/{_INGEST.name}"

#: The server's default limit of events per batch (--batch-events-max).
SERVER_BATCH_EVENTS_MAX = 10_000

_BATCH_ID_TAG = bytes([(pb.IngestEventsRequest.DESCRIPTOR.fields_by_name["batch_id"].number << 3) | 0])
_EVENTS_TAG = bytes([(pb.IngestEventsRequest.DESCRIPTOR.fields_by_name["events"].number << 3) | 2])


def frame_event(event: bytes, run_field: bytes = b"") -> bytes:
    """An encoded ``LearningEvent`` as one ``events`` field of a request,
    with ``run_field`` (the encoded ``LearningEvent.run`` of the run in
    force, see :meth:`CallOptions.event_run`) appended inside it: each
    event names its own run, so one batch may carry events of several."""
    n = len(event) + len(run_field)
    return _EVENTS_TAG + (_SMALL_VARINTS[n] if n < 0x80 else varint(n)) + event + run_field


def batch_request(batch_id: int, framed_events: Iterable[bytes]) -> bytes:
    """An encoded ``IngestEventsRequest``: the batch_id and the framed events, in order."""
    return _BATCH_ID_TAG + varint(batch_id) + b"".join(framed_events)


def unframe_event(framed: bytes) -> pb.LearningEvent:
    """The ``LearningEvent`` inside one framed ``events`` field (for reports)."""
    i = len(_EVENTS_TAG)
    while framed[i] & 0x80:
        i += 1
    event: pb.LearningEvent = pb.LearningEvent.FromString(framed[i + 1 :])
    return event


# The event_type the server writes for each oneof case (None: the event names its own).
_EVENT_TYPE_BY_CASE = {entry.case: entry.event_type for entry in CATALOG.values()}


def event_type_of(event: pb.LearningEvent) -> str:
    """The record's event_type for a ``LearningEvent`` (for reports)."""
    case = event.WhichOneof("event") or ""
    known = _EVENT_TYPE_BY_CASE.get(case)
    return known if known is not None else str(getattr(event, case).event_type) if case else ""


def batch_redactions(events: Sequence[Tuple[str, bytes]], response: Any) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """``(event_id, redacted field paths)`` for each event of a batch
    (``(event_id, framed event)`` pairs, in request order) that the server's
    answer says the PII guard redacted; each path is warned about (once per
    process, see :func:`warn_redacted`)."""
    out: List[Tuple[str, Tuple[str, ...]]] = []
    for r in response.redactions:
        if r.index < len(events):
            event_id, framed = events[r.index]
            fields = tuple(r.fields)
            note_redaction_reasons(r.details)
            warn_redacted(event_type_of(unframe_event(framed)), fields)
            out.append((event_id, fields))
    return tuple(out)
