"""The trust tracker's calls, once for the sync and the asyncio tracker.

Each public method of :class:`~pulse_learning_log.TrustTracker` checks its
arguments into a :class:`TrustCall`: the RPC, its request, whether it may be
retried (reads) or not (writes: they carry no idempotency key), and how the
answer becomes the method's result. The sync tracker runs it on a
``grpc`` channel, the asyncio tracker (``pulse_learning_log.aio``) on a
``grpc.aio`` one.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Iterable, List, Mapping, NamedTuple, Optional, Tuple, Union

from ._gen.pulse.trust.v1 import trust_pb2 as tpb

from .json_values import check_number, check_str
from .results import DecayResult, ExportResult, TrustUpdate, record_from_proto, report_from_proto, stats_from_metrics

__all__ = ["TrustCall", "Outcome", "report_options"]

# Records per ImportTrust message: keeps each message far below 4 MiB.
_IMPORT_CHUNK_RECORDS = 500
_UINT32_MAX = 2**32 - 1

#: One outcome of ``batch_update``: (key, success) or (key, success, weight).
Outcome = Union[Tuple[str, Any], Tuple[str, Any, float]]


def _outcome(key: Any, success: Any, weight: Any, where: str) -> tpb.TrustOutcome:
    check_str(key, f"{where} key")
    message = tpb.TrustOutcome(key=key, success=bool(success))
    if weight is not None:
        message.weight = check_number(weight, f"{where} weight")
    return message


def _path(path: Any) -> str:
    path = os.fspath(path) if isinstance(path, os.PathLike) else path
    return check_str(path, "path")



class TrustCall(NamedTuple):
    """One call of a tracker method."""

    #: The TrustService RPC's name, e.g. ``Update``.
    rpc: str
    #: ``unary``, ``server_stream`` (the answers are a list) or
    #: ``client_stream`` (``request`` is a list of messages).
    kind: str
    #: The request message (a list of them for a client stream).
    request: Any
    #: A write: not retried (it carries no idempotency key), and in quiet
    #: mode a failure is logged and ``quiet_result`` returned instead of
    #: raised. Reads are retried, and raise even when quiet (they have
    #: nothing to return).
    write: bool
    #: The method's result from the answer.
    result: Callable[[Any], Any]
    #: What a quiet tracker's failed write returns.
    quiet_result: Any = None

    @property
    def retried(self) -> bool:
        """Reads on a unary RPC are retried (a stream cannot be resent from its middle)."""
        return not self.write and self.kind == "unary"

    @property
    def quiet_allowed(self) -> bool:
        """A quiet tracker logs and carries on after this call's failure."""
        return self.write and self.kind == "unary"


def update(key: str, success: bool, weight: float = 1.0) -> TrustCall:
    return TrustCall("Update", "unary", tpb.UpdateRequest(outcome=_outcome(key, success, weight, "update")), True, lambda r: TrustUpdate(int(r.seq), stats_from_metrics(r.metrics)))


def batch_update(results: Union[Iterable[Outcome], Mapping[str, Iterable[Tuple[Any, float]]]]) -> TrustCall:
    outcomes: List[tpb.TrustOutcome] = []
    if isinstance(results, Mapping):
        for key, items in results.items():
            for i, item in enumerate(items):
                if not isinstance(item, (tuple, list)) or len(item) != 2:
                    raise ValueError(f"batch_update[{key!r}][{i}] must be a (success, weight) tuple")
                outcomes.append(_outcome(key, item[0], item[1], f"batch_update[{key!r}][{i}]"))
    else:
        if isinstance(results, (str, bytes)):
            raise ValueError("batch_update results must be a list of (key, success[, weight]) tuples")
        for i, item in enumerate(results):
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise ValueError(f"batch_update[{i}] must be a (key, success) or (key, success, weight) tuple")
            outcomes.append(_outcome(item[0], item[1], item[2] if len(item) == 3 else None, f"batch_update[{i}]"))
    return TrustCall(
        "BatchUpdate", "unary", tpb.BatchUpdateRequest(outcomes=outcomes), True, lambda r: TrustUpdate(int(r.seq), {m.key: stats_from_metrics(m) for m in r.metrics})
    )


def apply_decay(key: Optional[str], decay_factor: float, min_count: float) -> TrustCall:
    """One key's decay, or every key's when ``key`` is None."""
    request = tpb.ApplyDecayRequest(factor=check_number(decay_factor, "decay_factor"), min_count=check_number(min_count, "min_count"))
    if key is not None:
        request.key = check_str(key, "key")
    return TrustCall("ApplyDecay", "unary", request, True, lambda r: DecayResult(r.keys_decayed, int(r.seq)))


def metrics(keys: Iterable[str], z: Optional[float], result: Callable[[Any], Any]) -> TrustCall:
    """GetMetrics of ``keys``; ``result`` gets the list of KeyMetrics messages."""
    request = tpb.GetMetricsRequest(keys=[check_str(k, "key") for k in keys])
    if z is not None:
        request.z = check_number(z, "z")
    return TrustCall("GetMetrics", "unary", request, False, lambda r: result(r.metrics))


def get_trust(key: str) -> TrustCall:
    return metrics([key], None, lambda ms: ms[0].trust)


def get_confidence_interval(key: str, z: float = 1.96) -> TrustCall:
    return metrics([key], z, lambda ms: (ms[0].confidence_lower, ms[0].confidence_upper))


def get_confidence_strength(key: str) -> TrustCall:
    return metrics([key], None, lambda ms: ms[0].confidence_strength)


def get_sample_size(key: str) -> TrustCall:
    return metrics([key], None, lambda ms: int(ms[0].sample_size))


def get_stats(key: str) -> TrustCall:
    return metrics([key], None, lambda ms: stats_from_metrics(ms[0]))


def get_metrics(keys: Iterable[str], z: Optional[float] = None) -> TrustCall:
    return metrics(keys, z, lambda ms: [stats_from_metrics(m) for m in ms])


def get_time_since_update(key: str) -> TrustCall:
    return metrics([key], None, lambda ms: time.time() - ms[0].last_update if ms[0].HasField("last_update") else math.inf)


def generate_report(min_samples: int = 5, high_threshold: Optional[float] = None, low_threshold: Optional[float] = None) -> TrustCall:
    request = tpb.GenerateReportRequest()
    report_options(request, min_samples, high_threshold, low_threshold)
    return TrustCall("GenerateReport", "unary", request, False, lambda r: report_from_proto(r.report))


def export_to_file(path: Union[str, "os.PathLike[str]"]) -> TrustCall:
    return TrustCall("ExportTrustToFile", "unary", tpb.ExportTrustToFileRequest(path=_path(path)), True, lambda r: ExportResult(r.path, r.key_count))


def import_from_file(path: Union[str, "os.PathLike[str]"], merge: bool = False) -> TrustCall:
    mode = tpb.IMPORT_MODE_MERGE if merge else tpb.IMPORT_MODE_REPLACE
    return TrustCall("ImportTrustFromFile", "unary", tpb.ImportTrustFromFileRequest(path=_path(path), mode=mode), True, lambda r: bool(r.found), False)


def export_records() -> TrustCall:
    return TrustCall("ExportTrust", "server_stream", tpb.ExportTrustRequest(), False, lambda answers: [record_from_proto(a.record) for a in answers])


def import_records(records: Iterable[Mapping[str, Any]], merge: bool = False) -> TrustCall:
    messages = []
    for i, r in enumerate(records):
        try:
            message = tpb.TrustRecord(key=check_str(r["key"], f"records[{i}].key"), alpha=check_number(r["alpha"], f"records[{i}].alpha"), beta=check_number(r["beta"], f"records[{i}].beta"))
            if r.get("last_update") is not None:
                message.last_update = check_number(r["last_update"], f"records[{i}].last_update")
            for t, trust in r.get("history") or ():
                message.history.add(time=check_number(t, f"records[{i}].history time"), trust=check_number(trust, f"records[{i}].history trust"))
        except (KeyError, TypeError) as err:
            raise ValueError(f"records[{i}] is not a trust record ({err})") from None
        messages.append(message)
    mode = tpb.IMPORT_MODE_MERGE if merge else tpb.IMPORT_MODE_REPLACE
    chunks = [messages[i : i + _IMPORT_CHUNK_RECORDS] for i in range(0, len(messages), _IMPORT_CHUNK_RECORDS)] or [[]]
    requests = [tpb.ImportTrustRequest(mode=mode if i == 0 else tpb.IMPORT_MODE_UNSPECIFIED, records=chunk) for i, chunk in enumerate(chunks)]
    return TrustCall("ImportTrust", "client_stream", requests, True, lambda r: r.key_count)


def report_options(request: Any, min_samples: Any, high_threshold: Any, low_threshold: Any) -> None:
    """Fills the min_samples / thresholds of a (Generate)Report request."""
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or not 0 <= min_samples <= _UINT32_MAX:
        raise ValueError(f"min_samples must be a non-negative integer, got {min_samples!r}")
    request.min_samples = min_samples
    if high_threshold is not None:
        request.high_threshold = check_number(high_threshold, "high_threshold")
    if low_threshold is not None:
        request.low_threshold = check_number(low_threshold, "low_threshold")
