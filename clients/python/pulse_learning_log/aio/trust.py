"""The trust tracker for asyncio: the sync tracker's methods as coroutines,
over ``grpc.aio``; each call is built by :mod:`..trust_calls`, as the sync
tracker's are, so both check and convert alike."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import grpc
from .._gen.pulse.trust.v1 import trust_pb2_grpc as tgrpc

from .. import trust_calls as calls
from ..diagnostics import logger
from ..errors import LearningLogError, error_from_rpc
from ..results import DecayResult, ExportResult, TrustUpdate
from ..trust_calls import Outcome, TrustCall
from .connection import AsyncConnection

__all__ = ["TrustTracker"]


class TrustTracker:
    """A Bayesian trust tracker served by the learning log server, for
    asyncio code: build one with ``pulse_learning_log.aio.LearningLogClient(...).trust``.
    The methods are those of :class:`pulse_learning_log.TrustTracker`, as coroutines."""

    def __init__(self, connection: AsyncConnection, *, quiet: bool = False):
        self._conn = connection
        self._stub = tgrpc.TrustServiceStub(connection.channel)
        #: Log failures of writes and carry on instead of raising.
        self.quiet = quiet

    async def _run(self, call: TrustCall) -> Any:
        """Runs a tracker call: retried when it is a read, quiet when it is a write and the tracker is."""
        conn = self._conn
        method = getattr(self._stub, call.rpc)
        try:
            if call.kind == "unary":
                return call.result(await conn.unary(method, call.request, idempotent=call.retried))
            try:
                if call.kind == "server_stream":
                    return call.result([answer async for answer in method(call.request, timeout=conn.timeout, metadata=conn.call_metadata())])
                return call.result(await method(iter(call.request), timeout=conn.timeout, metadata=conn.call_metadata()))
            except grpc.RpcError as err:
                raise error_from_rpc(err) from err
        except LearningLogError as err:
            if call.quiet_allowed and self.quiet:
                logger.error("[BayesianTrust] %s failed: %s", call.rpc, err)
                return call.quiet_result
            raise

    # -- updates ----------------------------------------------------------

    async def update(self, key: str, success: bool, weight: float = 1.0) -> Optional[TrustUpdate]:
        """Records one outcome: ``weight`` is added to alpha on success, to
        beta on failure. Returns the seq of the audit record and the key's
        stats after the update (the original returned None)."""
        result: Optional[TrustUpdate] = await self._run(calls.update(key, success, weight))
        return result

    async def batch_update(self, results: Union[Iterable[Outcome], Mapping[str, Iterable[Tuple[Any, float]]]]) -> Optional[TrustUpdate]:
        """Records many outcomes at once, in order, all or nothing.

        ``results`` is a list of ``(key, success)`` or ``(key, success,
        weight)`` tuples, or (the original tracker's form) a dict of key ->
        list of ``(success, weight)`` tuples. Returns the audit record's seq
        and a dict of key -> stats for every key touched.
        """
        result: Optional[TrustUpdate] = await self._run(calls.batch_update(results))
        return result

    async def apply_decay(self, key: str, decay_factor: float = 0.99, min_count: float = 5) -> Optional[DecayResult]:
        """Shrinks a key toward the prior: alpha, beta <- max(1, x * decay_factor)
        when alpha + beta > min_count."""
        if not isinstance(key, str):
            raise ValueError(f"key must be a string, got {type(key).__name__}")
        result: Optional[DecayResult] = await self._run(calls.apply_decay(key, decay_factor, min_count))
        return result

    async def apply_global_decay(self, decay_factor: float = 0.99, min_count: float = 5) -> Optional[DecayResult]:
        """:meth:`apply_decay` for every key."""
        result: Optional[DecayResult] = await self._run(calls.apply_decay(None, decay_factor, min_count))
        return result

    # -- reads ------------------------------------------------------------

    async def get_trust(self, key: str) -> float:
        """alpha / (alpha + beta); 0.5 for a key never updated."""
        result: float = await self._run(calls.get_trust(key))
        return result

    async def get_confidence_interval(self, key: str, z: float = 1.96) -> Tuple[float, float]:
        """p ± z·sqrt(p(1-p)/n), n = alpha + beta, clamped to [0, 1]."""
        result: Tuple[float, float] = await self._run(calls.get_confidence_interval(key, z))
        return result

    async def get_confidence_strength(self, key: str) -> float:
        """1 / (1 + exp(-0.1·(n_obs - 10))), n_obs = alpha + beta - 2."""
        result: float = await self._run(calls.get_confidence_strength(key))
        return result

    async def get_sample_size(self, key: str) -> int:
        """int(alpha + beta - 2)."""
        result: int = await self._run(calls.get_sample_size(key))
        return result

    async def get_stats(self, key: str) -> Dict[str, Any]:
        """Everything about a key: ``key``, ``trust``, ``confidence_interval``,
        ``confidence_strength``, ``sample_size``, ``alpha``, ``beta``,
        ``last_update`` (seconds since the epoch, None when never updated)."""
        result: Dict[str, Any] = await self._run(calls.get_stats(key))
        return result

    async def get_metrics(self, keys: Iterable[str], z: Optional[float] = None) -> List[Dict[str, Any]]:
        """:meth:`get_stats` of many keys in one call, in the order asked."""
        result: List[Dict[str, Any]] = await self._run(calls.get_metrics(keys, z))
        return result

    async def get_time_since_update(self, key: str) -> float:
        """Seconds since the key's last update; infinity when never updated."""
        result: float = await self._run(calls.get_time_since_update(key))
        return result

    async def generate_report(
        self,
        min_samples: int = 5,
        *,
        high_threshold: Optional[float] = None,
        low_threshold: Optional[float] = None,
    ) -> Dict[str, Any]:
        """The trust report (``summary``, ``high_trust``, ``low_trust``) without
        logging it; see ``LearningLogClient.generate_trust_report``."""
        result: Dict[str, Any] = await self._run(calls.generate_report(min_samples, high_threshold, low_threshold))
        return result

    # -- persistence ------------------------------------------------------

    async def export_to_file(self, path: Union[str, "os.PathLike[str]"]) -> Optional[ExportResult]:
        """Writes the state, in the original module's JSON format, to ``path``
        relative to the server's trust directory."""
        result: Optional[ExportResult] = await self._run(calls.export_to_file(path))
        return result

    async def import_from_file(self, path: Union[str, "os.PathLike[str]"], *, merge: bool = False) -> bool:
        """Loads a file written by :meth:`export_to_file` (or by the original
        module) from the server's trust directory; replaces the state unless
        ``merge``. False when the file does not exist, as in the original."""
        result: bool = await self._run(calls.import_from_file(path, merge))
        return result

    async def export_records(self) -> List[Dict[str, Any]]:
        """Every key's full state (``key``, ``alpha``, ``beta``, ``last_update``,
        ``history`` as (time, trust) pairs), sorted by key."""
        result: List[Dict[str, Any]] = await self._run(calls.export_records())
        return result

    async def import_records(self, records: Iterable[Mapping[str, Any]], *, merge: bool = False) -> int:
        """Loads records shaped as :meth:`export_records` returns them, all or
        nothing; replaces the state unless ``merge``. Returns the key count."""
        result: int = await self._run(calls.import_records(records, merge))
        return result
