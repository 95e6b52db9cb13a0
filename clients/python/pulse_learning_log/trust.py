"""The original ``bayesian_trust_tracker`` object, over RPC (pulse.trust.v1.TrustService).

Same method names and arguments as the original in-process tracker; the
state lives in the server, which writes every change to the learning log
before applying it. Reads (``get_*``, ``generate_report``) are retried on
transient failures; writes are not (they carry no idempotency key) and
raise :class:`~pulse_learning_log.LearningLogError` on failure, or log
and return None (False for ``import_from_file``) when the tracker is quiet.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import grpc
from pulse.trust.v1 import trust_pb2 as tpb
from pulse.trust.v1 import trust_pb2_grpc as tgrpc

from .connection import Connection
from .diagnostics import logger
from .errors import LearningLogError, error_from_rpc
from .json_values import check_number, check_str
from .results import DecayResult, ExportResult, TrustUpdate, record_from_proto, report_from_proto, stats_from_metrics

__all__ = ["TrustTracker"]

# Records per ImportTrust message: keeps each message far below 4 MiB.
_IMPORT_CHUNK_RECORDS = 500
_UINT32_MAX = 2**32 - 1

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


class TrustTracker:
    """A Bayesian trust tracker served by the learning log server.

    Build one with ``LearningLogClient(...).trust`` (same channel and
    token), or use the module-level ``bayesian_trust_tracker``.
    """

    def __init__(self, connection: Connection, *, quiet: bool = False):
        self._conn = connection
        self._stub = tgrpc.TrustServiceStub(connection.channel)
        #: Print failures of writes and carry on instead of raising.
        self.quiet = quiet

    # -- plumbing ---------------------------------------------------------

    def _connection(self) -> Tuple[Connection, tgrpc.TrustServiceStub]:
        return self._conn, self._stub

    def _is_quiet(self) -> bool:
        return self.quiet

    def _read(self, rpc: str, request: Any) -> Any:
        conn, stub = self._connection()
        return conn.unary(getattr(stub, rpc), request, idempotent=True)

    def _write(self, rpc: str, request: Any) -> Any:
        conn, stub = self._connection()
        try:
            return conn.unary(getattr(stub, rpc), request, idempotent=False)
        except LearningLogError as err:
            if self._is_quiet():
                logger.error("[BayesianTrust] %s failed: %s", rpc, err)
                return None
            raise

    def _metrics(self, key: Any, z: Optional[float] = None) -> Any:
        request = tpb.GetMetricsRequest(keys=[check_str(key, "key")])
        if z is not None:
            request.z = check_number(z, "z")
        return self._read("GetMetrics", request).metrics[0]

    # -- updates ----------------------------------------------------------

    def update(self, key: str, success: bool, weight: float = 1.0) -> Optional[TrustUpdate]:
        """Records one outcome: ``weight`` is added to alpha on success, to
        beta on failure. Returns the seq of the audit record and the key's
        stats after the update (the original returned None)."""
        response = self._write("Update", tpb.UpdateRequest(outcome=_outcome(key, success, weight, "update")))
        if response is None:
            return None
        return TrustUpdate(int(response.seq), stats_from_metrics(response.metrics))

    def batch_update(self, results: Union[Iterable[Outcome], Mapping[str, Iterable[Tuple[Any, float]]]]) -> Optional[TrustUpdate]:
        """Records many outcomes at once, in order, all or nothing.

        ``results`` is a list of ``(key, success)`` or ``(key, success,
        weight)`` tuples, or (the original tracker's form) a dict of key ->
        list of ``(success, weight)`` tuples. Returns the audit record's seq
        and a dict of key -> stats for every key touched.
        """
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
        response = self._write("BatchUpdate", tpb.BatchUpdateRequest(outcomes=outcomes))
        if response is None:
            return None
        return TrustUpdate(int(response.seq), {m.key: stats_from_metrics(m) for m in response.metrics})

    def apply_decay(self, key: str, decay_factor: float = 0.99, min_count: float = 5) -> Optional[DecayResult]:
        """Shrinks a key toward the prior: alpha, beta <- max(1, x * decay_factor)
        when alpha + beta > min_count."""
        request = tpb.ApplyDecayRequest(
            key=check_str(key, "key"),
            factor=check_number(decay_factor, "decay_factor"),
            min_count=check_number(min_count, "min_count"),
        )
        response = self._write("ApplyDecay", request)
        return None if response is None else DecayResult(response.keys_decayed, int(response.seq))

    def apply_global_decay(self, decay_factor: float = 0.99, min_count: float = 5) -> Optional[DecayResult]:
        """:meth:`apply_decay` for every key."""
        request = tpb.ApplyDecayRequest(
            factor=check_number(decay_factor, "decay_factor"),
            min_count=check_number(min_count, "min_count"),
        )
        response = self._write("ApplyDecay", request)
        return None if response is None else DecayResult(response.keys_decayed, int(response.seq))

    # -- reads ------------------------------------------------------------

    def get_trust(self, key: str) -> float:
        """alpha / (alpha + beta); 0.5 for a key never updated."""
        return self._metrics(key).trust

    def get_confidence_interval(self, key: str, z: float = 1.96) -> Tuple[float, float]:
        """p ± z·sqrt(p(1-p)/n), n = alpha + beta, clamped to [0, 1]."""
        m = self._metrics(key, z)
        return (m.confidence_lower, m.confidence_upper)

    def get_confidence_strength(self, key: str) -> float:
        """1 / (1 + exp(-0.1·(n_obs - 10))), n_obs = alpha + beta - 2."""
        return self._metrics(key).confidence_strength

    def get_sample_size(self, key: str) -> int:
        """int(alpha + beta - 2)."""
        return int(self._metrics(key).sample_size)

    def get_stats(self, key: str) -> Dict[str, Any]:
        """Everything about a key: ``key``, ``trust``, ``confidence_interval``,
        ``confidence_strength``, ``sample_size``, ``alpha``, ``beta``,
        ``last_update`` (seconds since the epoch, None when never updated)."""
        return stats_from_metrics(self._metrics(key))

    def get_metrics(self, keys: Iterable[str], z: Optional[float] = None) -> List[Dict[str, Any]]:
        """:meth:`get_stats` of many keys in one call, in the order asked."""
        request = tpb.GetMetricsRequest(keys=[check_str(k, "key") for k in keys])
        if z is not None:
            request.z = check_number(z, "z")
        return [stats_from_metrics(m) for m in self._read("GetMetrics", request).metrics]

    def get_time_since_update(self, key: str) -> float:
        """Seconds since the key's last update; infinity when never updated."""
        m = self._metrics(key)
        return time.time() - m.last_update if m.HasField("last_update") else math.inf

    def generate_report(
        self,
        min_samples: int = 5,
        *,
        high_threshold: Optional[float] = None,
        low_threshold: Optional[float] = None,
    ) -> Dict[str, Any]:
        """The trust report (``summary``, ``high_trust``, ``low_trust``) without
        logging it; see ``LearningLogClient.generate_trust_report``."""
        request = tpb.GenerateReportRequest()
        report_options(request, min_samples, high_threshold, low_threshold)
        return report_from_proto(self._read("GenerateReport", request).report)

    # -- persistence ------------------------------------------------------

    def export_to_file(self, path: Union[str, "os.PathLike[str]"]) -> Optional[ExportResult]:
        """Writes the state, in the original module's JSON format, to ``path``
        relative to the server's trust directory."""
        response = self._write("ExportTrustToFile", tpb.ExportTrustToFileRequest(path=_path(path)))
        return None if response is None else ExportResult(response.path, response.key_count)

    def import_from_file(self, path: Union[str, "os.PathLike[str]"], *, merge: bool = False) -> bool:
        """Loads a file written by :meth:`export_to_file` (or by the original
        module) from the server's trust directory; replaces the state unless
        ``merge``. False when the file does not exist, as in the original."""
        mode = tpb.IMPORT_MODE_MERGE if merge else tpb.IMPORT_MODE_REPLACE
        response = self._write("ImportTrustFromFile", tpb.ImportTrustFromFileRequest(path=_path(path), mode=mode))
        return bool(response is not None and response.found)

    def export_records(self) -> List[Dict[str, Any]]:
        """Every key's full state (``key``, ``alpha``, ``beta``, ``last_update``,
        ``history`` as (time, trust) pairs), sorted by key."""
        conn, stub = self._connection()
        try:
            return [record_from_proto(r.record) for r in stub.ExportTrust(tpb.ExportTrustRequest(), timeout=conn.timeout, metadata=conn.metadata)]
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err

    def import_records(self, records: Iterable[Mapping[str, Any]], *, merge: bool = False) -> int:
        """Loads records shaped as :meth:`export_records` returns them, all or
        nothing; replaces the state unless ``merge``. Returns the key count."""
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
        conn, stub = self._connection()
        try:
            return stub.ImportTrust(iter(requests), timeout=conn.timeout, metadata=conn.metadata).key_count
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err


def report_options(request: Any, min_samples: Any, high_threshold: Any, low_threshold: Any) -> None:
    """Fills the min_samples / thresholds of a (Generate)Report request."""
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or not 0 <= min_samples <= _UINT32_MAX:
        raise ValueError(f"min_samples must be a non-negative integer, got {min_samples!r}")
    request.min_samples = min_samples
    if high_threshold is not None:
        request.high_threshold = check_number(high_threshold, "high_threshold")
    if low_threshold is not None:
        request.low_threshold = check_number(low_threshold, "low_threshold")
