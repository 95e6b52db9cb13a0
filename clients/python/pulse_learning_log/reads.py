"""Reading the log back: ReadEvents requests and records, ListRuns answers.

Shared by the sync and asyncio clients (``read_events``, ``list_runs``):
what the arguments may be, the request they make, and the typed results.
Reads are not the original module's logging calls: they raise their
:class:`~pulse_learning_log.LearningLogError` even on a quiet client.
"""

from __future__ import annotations

import json
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb
from .json_values import check_str
from .runs import check_run_id

__all__ = ["LogRecord", "RunInfo", "RunList", "RUN_STATUSES", "read_request", "list_runs_request", "log_record", "run_list"]

#: Where a run stands (``RunInfo.status``): ``logging`` (no run_finished
#: record, and a process holds the run open or logged into it lately),
#: ``finished``, ``failed`` (its run_finished record says so), and
#: ``ended_without_finish`` (no run_finished record, and the process that
#: held it ended).
RUN_STATUSES = ("logging", "finished", "failed", "ended_without_finish")

_STATUS_PREFIX = "RUN_STATUS_"


class LogRecord(NamedTuple):
    """One record of the log, as ``read_events`` yields it."""

    #: The record's seq.
    seq: int
    #: Its event_id.
    event_id: str
    #: Its timestamp as written, e.g. ``2026-11-24T19:05:53.700123+00:00``.
    timestamp: str
    #: Its event_type.
    event_type: str
    #: The whole record, parsed: ``{"event_id", "timestamp", "event_type",
    #: "data"[, "context"][, "run"], "seq"[, "hash"]}``.
    record: Dict[str, Any]
    #: The record's line exactly as written in the log (without the newline).
    json: str

    @property
    def run(self) -> Optional[str]:
        """The run the record belongs to, or None."""
        run = self.record.get("run")
        return run if isinstance(run, str) else None


class RunInfo(NamedTuple):
    """One run, from the server's run index (``list_runs``)."""

    #: The run's id.
    run: str
    #: The seq of its first and last records.
    first_seq: int
    last_seq: int
    #: The timestamps of its first and last records, as written.
    first_timestamp: str
    last_timestamp: str
    #: How many records it has.
    event_count: int
    #: How many records of each event type.
    event_types: Dict[str, int]
    #: One of :data:`RUN_STATUSES`.
    status: str
    #: For a failed run, the error its run_finished record names; else None.
    error: Optional[str]


class RunList(NamedTuple):
    """The answer of ``list_runs``."""

    #: The runs, by first seq.
    runs: Tuple[RunInfo, ...]
    #: The highest seq the run index had read: the list describes the log up to it.
    indexed_seq: int

    def get(self, run: str) -> Optional[RunInfo]:
        """The :class:`RunInfo` of ``run``, or None when the list has no such run."""
        return next((info for info in self.runs if info.run == run), None)


def _runs(runs: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if runs is None:
        return ()
    if isinstance(runs, str):
        raise ValueError("runs must be a list of run ids, not one string (runs=[run])")
    return tuple(check_run_id(run, f"runs[{i}]") for i, run in enumerate(runs))


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def read_request(
    from_seq: Optional[int],
    since: Optional[str],
    until: Optional[str],
    event_types: Optional[Sequence[str]],
    limit: int,
    follow: bool,
    runs: Optional[Sequence[str]],
) -> Any:
    """The ReadEventsRequest of ``read_events``'s arguments (``ValueError``
    naming the argument when one is wrong)."""
    request = pb.ReadEventsRequest(limit=_count("limit", limit), follow=bool(follow), runs=_runs(runs))
    if from_seq is not None:
        request.from_seq = _count("from_seq", from_seq)
    if since is not None:
        request.since = check_str(since, "since")
    if until is not None:
        request.until = check_str(until, "until")
    if event_types is not None:
        if isinstance(event_types, str):
            raise ValueError("event_types must be a list of event types, not one string (event_types=[event_type])")
        request.event_types.extend(check_str(t, f"event_types[{i}]") for i, t in enumerate(event_types))
    return request


def list_runs_request(runs: Optional[Sequence[str]]) -> Any:
    """The ListRunsRequest of ``list_runs``'s arguments."""
    return pb.ListRunsRequest(runs=_runs(runs))


def log_record(message: Any) -> LogRecord:
    """A LogRecord message as a :class:`LogRecord`."""
    return LogRecord(message.seq, message.event_id, message.timestamp, message.event_type, json.loads(message.json), message.json)


def _status(value: int) -> str:
    try:
        name: str = pb.RunStatus.Name(value)
    except ValueError:
        return "unknown"
    return name[len(_STATUS_PREFIX) :].lower() if name.startswith(_STATUS_PREFIX) else name.lower()


def run_list(response: Any) -> RunList:
    """A ListRunsResponse as a :class:`RunList`."""
    runs = tuple(
        RunInfo(
            info.run,
            info.first_seq,
            info.last_seq,
            info.first_timestamp,
            info.last_timestamp,
            info.event_count,
            dict(info.event_types),
            _status(info.status),
            info.error or None,
        )
        for info in response.runs
    )
    return RunList(runs, response.indexed_seq)
