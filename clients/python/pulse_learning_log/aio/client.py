"""LearningLogClient for asyncio: the sync client's methods as coroutines, over ``grpc.aio``.

Each ``await client.log_*(...)`` returns once the record is durable on the
server, with its :class:`~pulse_learning_log.Ack`; failures raise the same
typed errors (or, when quiet, are logged and give None); ``timeout`` bounds
each call with all its retries.
"""

from __future__ import annotations

import os
from typing import Any, AsyncIterator, Dict, Optional, Sequence, Tuple, Union

import grpc
from .._gen.pulse.learninglog.v1 import learning_log_pb2 as pb
from .._gen.pulse.learninglog.v1 import learning_log_pb2_grpc as pb_grpc

from ..client import _filepath
from ..diagnostics import logger, warn_redacted, note_redaction_reasons
from ..errors import LearningLogError, error_from_rpc
from .._surfaces import AsyncClientEvents
from ..events import CATALOG, Event
from ..reads import LogRecord, RunList, list_runs_request, log_record, read_request, run_list
from ..results import Ack, TrustMetricsAck, ack_from_proto, report_from_proto, stats_from_metrics, trust_metrics_ack_from_proto
from ..trust import report_options
from .connection import AsyncConnection
from .trust import TrustTracker

__all__ = ["LearningLogClient"]


class LearningLogClient(AsyncClientEvents):
    """A client of the Pulse learning log service for asyncio code.

    Same parameters as :class:`pulse_learning_log.LearningLogClient` (there
    is no shared-stream option: for many events use the asyncio
    :class:`~pulse_learning_log.aio.BatchWriter`). Use it inside one running
    event loop, as ``async with LearningLogClient(...) as log:`` or call
    :meth:`close`.
    """

    def __init__(
        self,
        target: Optional[str] = None,
        *,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
        timeout: Optional[float] = 10.0,
        quiet: bool = False,
        retry_attempts: int = 4,
        echo_trust_metrics: bool = True,
        channel_options: Sequence[Tuple[str, Any]] = (),
    ):
        self.connection = AsyncConnection(
            target,
            token=token,
            credentials=credentials,
            timeout=timeout,
            retry_attempts=retry_attempts,
            channel_options=channel_options,
        )
        self._stub = pb_grpc.LearningLogServiceStub(self.connection.channel)
        self._quiet = bool(quiet)
        self.echo_trust_metrics = echo_trust_metrics
        self._trust: Optional[TrustTracker] = None

    @property
    def target(self) -> str:
        """The server address."""
        return self.connection.target

    @property
    def quiet(self) -> bool:
        """Log failures and carry on (True) or raise them (False)."""
        return self._quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        self._quiet = bool(value)
        if self._trust is not None:
            self._trust.quiet = self._quiet

    @property
    def trust(self) -> TrustTracker:
        """The server's trust tracker, on this client's channel (coroutines)."""
        if self._trust is None:
            self._trust = TrustTracker(self.connection, quiet=self._quiet)
        return self._trust

    async def close(self) -> None:
        """Closes the channel."""
        await self.connection.close()

    async def __aenter__(self) -> "LearningLogClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- plumbing ---------------------------------------------------------

    def _failed(self, err: LearningLogError) -> None:
        if not self._quiet:
            raise err
        logger.error("[LearningLog] Failed to log event: %s", err)

    async def _log(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> Any:
        """The generic log method (see the sync client's ``_log``)."""
        entry = CATALOG[method]
        request = entry.request(args, event_id)
        try:
            return await self.connection.unary(getattr(self._stub, entry.rpc), request, idempotent=True)
        except LearningLogError as err:
            self._failed(err)
            return None

    async def _ack(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> Union[Ack, TrustMetricsAck, None]:
        """The generic method of the ``log_*`` coroutines (generated in
        :class:`~pulse_learning_log._surfaces.AsyncClientEvents`; see the
        sync client's ``_ack``)."""
        entry = CATALOG[method]
        if entry.with_metrics:
            return await self._trust_metrics_ack(entry, args, event_id)
        response = await self._log(method, args, event_id)
        if response is None:
            return None
        ack = ack_from_proto(response.ack)
        note_redaction_reasons(response.ack.redactions)
        if ack.redacted_fields:
            warn_redacted(entry.event_type or args[0], ack.redacted_fields)
        return ack

    async def _trust_metrics_ack(self, entry: Event, args: Tuple[Any, ...], event_id: Optional[str]) -> Optional[TrustMetricsAck]:
        """``log_bayesian_trust_metrics``: the metrics logged, and the
        original's ``[BayesianTrust]`` line (INFO) unless ``echo_trust_metrics`` is False."""
        response = await self._log(entry.name, args, event_id)
        if response is None:
            return None
        stats = stats_from_metrics(response.metrics)
        if self.echo_trust_metrics:
            key, kind = args
            logger.info(
                "[BayesianTrust] %s=%s trust=%.3f CI=%s confidence=%.3f samples=%s",
                kind,
                key,
                stats["trust"],
                stats["confidence_interval"],
                stats["confidence_strength"],
                stats["sample_size"],
            )
        result = trust_metrics_ack_from_proto(response.ack, stats)
        note_redaction_reasons(response.ack.redactions)
        if result.redacted_fields:
            warn_redacted(entry.event_type or entry.name, result.redacted_fields)
        return result

    # -- the original module's other methods, as coroutines -----------------
    # The log_* coroutines (one per row of events.CATALOG) are generated into
    # AsyncClientEvents.

    async def generate_trust_report(
        self,
        min_samples: int = 5,
        *,
        high_threshold: Optional[float] = None,
        low_threshold: Optional[float] = None,
    ) -> Optional[Dict[str, Any]]:
        """Builds the trust report and logs ``trust_report_generated`` (see the sync client)."""
        request = pb.GenerateTrustReportRequest()
        report_options(request, min_samples, high_threshold, low_threshold)
        try:
            response = await self.connection.unary(self._stub.GenerateTrustReport, request, idempotent=False)
        except LearningLogError as err:
            self._failed(err)
            return None
        return report_from_proto(response.report)

    async def export_trust_data(self, filepath: Union[str, "os.PathLike[str]"]) -> bool:
        """Exports the trust state to ``filepath`` (in the server's trust
        directory) and logs ``trust_data_exported``; True when written."""
        request = pb.ExportTrustDataRequest(filepath=_filepath(filepath))
        try:
            return bool((await self.connection.unary(self._stub.ExportTrustData, request, idempotent=False)).success)
        except LearningLogError as err:
            self._failed(err)
            return False

    async def import_trust_data(self, filepath: Union[str, "os.PathLike[str]"]) -> bool:
        """Imports the trust state from ``filepath`` (in the server's trust
        directory) and logs ``trust_data_imported``; False when missing."""
        request = pb.ImportTrustDataRequest(filepath=_filepath(filepath))
        try:
            return bool((await self.connection.unary(self._stub.ImportTrustData, request, idempotent=False)).success)
        except LearningLogError as err:
            self._failed(err)
            return False

    # -- reading the log back ---------------------------------------------

    def read_events(
        self,
        *,
        runs: Optional[Sequence[str]] = None,
        event_types: Optional[Sequence[str]] = None,
        from_seq: Optional[int] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        limit: int = 0,
        follow: bool = False,
        timeout: Optional[float] = None,
    ) -> AsyncIterator[LogRecord]:
        """``async for record in client.read_events(runs=["exp-42"]):`` the
        log's records in seq order, as :class:`~pulse_learning_log.LogRecord`;
        the arguments and errors are the sync client's
        (:meth:`pulse_learning_log.LearningLogClient.read_events`). Leaving
        the loop early cancels the call."""
        # Checked now, not at the first record.
        request = read_request(from_seq, since, until, event_types, limit, follow, runs)
        return self._read(request, timeout)

    async def _read(self, request: Any, timeout: Optional[float]) -> AsyncIterator[LogRecord]:
        call = self._stub.ReadEvents(request, timeout=timeout, metadata=self.connection.metadata)
        try:
            async for response in call:
                for message in response.records:
                    yield log_record(message)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err
        finally:
            call.cancel()  # a no-op once the call has ended

    async def list_runs(self, runs: Optional[Sequence[str]] = None, *, timeout: Optional[float] = None) -> RunList:
        """The runs the log holds, from the server's run index: see
        :meth:`pulse_learning_log.LearningLogClient.list_runs`."""
        request = list_runs_request(runs)
        return run_list(await self.connection.unary(self._stub.ListRuns, request, idempotent=True, timeout=timeout))
