"""LearningLogClient: the original ``PulseLearningLogger`` over gRPC.

Same method names and arguments as ``core/pulse_learning_log.py``; each call
writes exactly the record the original wrote and returns once it is durable
(fsynced) on the server: by a unary RPC per call, or (``stream=True``) over
one long-lived IngestEvents stream that the client's calls share.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb
from ._gen.pulse.learninglog.v1 import learning_log_pb2_grpc as pb_grpc

from .connection import Connection
from .diagnostics import logger, warn_redacted, note_redaction_reasons
from .durable_stream import DurableStream
from .errors import LearningLogError, error_from_rpc
from ._surfaces import ClientEvents
from .events import CATALOG, Event
from .json_values import check_str
from .reads import LogRecord, RunList, list_runs_request, log_record, read_request, run_list
from .results import Ack, TrustMetricsAck, ack_from_proto, report_from_proto, stats_from_metrics, trust_metrics_ack_from_proto
from .trust import TrustTracker, report_options

__all__ = ["LearningLogClient"]


def _filepath(filepath: Any) -> str:
    filepath = os.fspath(filepath) if isinstance(filepath, os.PathLike) else filepath
    return check_str(filepath, "filepath")


class LearningLogClient(ClientEvents):
    """A client of the Pulse learning log service.

    :param target: ``host:port``; default the ``PULSE_LEARNING_LOG_ADDR``
        environment variable, else ``127.0.0.1:50051``.
    :param token: sent as ``authorization: Bearer <token>`` on every call.
    :param credentials: ``grpc.ChannelCredentials`` for TLS (e.g.
        ``grpc.ssl_channel_credentials(root_certificates=...)``); plaintext when None.
    :param timeout: seconds one call may take, every attempt and the waits
        between them included (default 10; None: no limit). Past it the call
        raises :class:`DeadlineExceeded`.
    :param quiet: when True, a failed call logs ``[LearningLog] Failed to log
        event: ...`` (logger ``pulse_learning_log``, level ERROR) and returns
        None (False for ``export_trust_data`` / ``import_trust_data``), as the
        original module printed and carried on. When False (the default) it
        raises :class:`LearningLogError`. Bad arguments raise ``ValueError``
        either way.
    :param retry_attempts: attempts of a logging call on UNAVAILABLE,
        RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED (default 4), within the
        call's timeout; never for a message over the size limit. Safe: each
        call carries one event_id across its attempts and the server writes
        an event_id once.
    :param echo_trust_metrics: log the original's ``[BayesianTrust] ...``
        line (level INFO) in ``log_bayesian_trust_metrics`` (default True).
    :param stream: send the ``log_*`` calls (all but
        ``log_bayesian_trust_metrics``, whose answer carries the metrics) over
        one long-lived IngestEvents stream shared by this client's threads,
        each call still returning once its own event is durable. Faster for
        one call at a time; the :class:`Ack` is the same (seq, timestamp,
        redacted fields). Default False. The module-level functions use it.
    :param channel_options: extra ``grpc`` channel arguments.
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
        stream: bool = False,
        channel_options: Sequence[Tuple[str, Any]] = (),
    ):
        self.connection = Connection(
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
        self._stream: Optional[DurableStream] = DurableStream(self.connection) if stream else None

    @property
    def target(self) -> str:
        """The server address."""
        return self.connection.target

    @property
    def quiet(self) -> bool:
        """Print failures and carry on (True) or raise them (False)."""
        return self._quiet

    @quiet.setter
    def quiet(self, value: bool) -> None:
        self._quiet = bool(value)
        if self._trust is not None:
            self._trust.quiet = self._quiet

    @property
    def trust(self) -> TrustTracker:
        """The server's trust tracker, on this client's channel."""
        if self._trust is None:
            self._trust = TrustTracker(self.connection, quiet=self._quiet)
        return self._trust

    def close(self) -> None:
        """Ends the shared stream, if any, and closes the channel."""
        if self._stream is not None:
            self._stream.close()
        self.connection.close()

    def __enter__(self) -> "LearningLogClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------

    def _failed(self, err: LearningLogError) -> None:
        if not self._quiet:
            raise err
        logger.error("[LearningLog] Failed to log event: %s", err)

    def _log(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> Any:
        """The generic log method: checks the arguments of the event named
        ``method`` (a row of :data:`~pulse_learning_log.events.CATALOG`),
        sends it on its unary RPC with an event_id (kept across retries) and
        returns the response, or None when quiet and failed."""
        entry = CATALOG[method]
        request = entry.request(args, event_id)
        try:
            return self.connection.unary(getattr(self._stub, entry.rpc), request, idempotent=True)
        except LearningLogError as err:
            self._failed(err)
            return None

    def _ack(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> Union[Ack, TrustMetricsAck, None]:
        """The generic method of the ``log_*`` methods (generated in
        :class:`~pulse_learning_log._surfaces.ClientEvents`): logs the event
        ``method`` with its arguments and returns its :class:`Ack` once
        durable (a :class:`TrustMetricsAck` for an event whose answer carries
        metrics), or None when quiet and failed. Events go over the shared
        stream when the client has one, except those whose answer carries
        metrics (only the unary answer has them)."""
        entry = CATALOG[method]
        if entry.with_metrics:
            return self._trust_metrics_ack(entry, args, event_id)
        if self._stream is not None:
            try:
                ack = self._stream.log(entry, args, event_id)
            except LearningLogError as err:
                self._failed(err)
                return None
        else:
            response = self._log(method, args, event_id)
            if response is None:
                return None
            ack = ack_from_proto(response.ack)
            note_redaction_reasons(response.ack.redactions)
        if ack.redacted_fields:
            warn_redacted(entry.event_type or args[0], ack.redacted_fields)
        return ack

    def _trust_metrics_ack(self, entry: Event, args: Tuple[Any, ...], event_id: Optional[str]) -> Optional[TrustMetricsAck]:
        """``log_bayesian_trust_metrics``: the metrics the server read from its
        tracker and logged, with the original's ``[BayesianTrust]`` line
        (level INFO) unless ``echo_trust_metrics`` is False."""
        response = self._log(entry.name, args, event_id)
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

    # -- the original module's other methods --------------------------------
    # The log_* methods (one per row of events.CATALOG, with the original
    # signature and a keyword-only event_id for idempotent retries) are
    # generated into ClientEvents.

    def generate_trust_report(
        self,
        min_samples: int = 5,
        *,
        high_threshold: Optional[float] = None,
        low_threshold: Optional[float] = None,
    ) -> Optional[Dict[str, Any]]:
        """Builds the trust report and logs ``trust_report_generated``.

        Returns a dict: ``summary`` (total_keys, reported_keys, mean_trust,
        high_trust_count, low_trust_count, min_samples, high_threshold,
        low_threshold: the object the record holds), ``high_trust`` and
        ``low_trust`` (stats dicts, highest / lowest trust first). Keys with
        fewer than ``min_samples`` samples are left out; thresholds default to
        0.8 and 0.2 on the server.
        """
        request = pb.GenerateTrustReportRequest()
        report_options(request, min_samples, high_threshold, low_threshold)
        try:
            response = self.connection.unary(self._stub.GenerateTrustReport, request, idempotent=False)
        except LearningLogError as err:
            self._failed(err)
            return None
        return report_from_proto(response.report)

    def export_trust_data(self, filepath: Union[str, "os.PathLike[str]"]) -> bool:
        """Exports the trust state to ``filepath`` (relative to the server's
        trust directory) and logs ``trust_data_exported`` (or
        ``trust_data_export_failed``). True when the file was written."""
        request = pb.ExportTrustDataRequest(filepath=_filepath(filepath))
        try:
            return bool(self.connection.unary(self._stub.ExportTrustData, request, idempotent=False).success)
        except LearningLogError as err:
            self._failed(err)
            return False

    def import_trust_data(self, filepath: Union[str, "os.PathLike[str]"]) -> bool:
        """Imports the trust state from ``filepath`` (relative to the server's
        trust directory) and logs ``trust_data_imported`` (or
        ``trust_data_import_failed``). False when the file does not exist."""
        request = pb.ImportTrustDataRequest(filepath=_filepath(filepath))
        try:
            return bool(self.connection.unary(self._stub.ImportTrustData, request, idempotent=False).success)
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
    ) -> Iterator[LogRecord]:
        """Yields the log's records in seq order, as :class:`LogRecord`
        (seq, event_id, timestamp, event_type, the parsed ``record`` and its
        ``json`` line as written).

        :param runs: only records of these runs (run ids; the server reads
            them through its run index, not the whole log). Default: all.
        :param event_types: only records of these event types. Default: all.
        :param from_seq: first seq (inclusive). Default: the beginning.
        :param since: / :param until: only records with ``since <= timestamp
            < until`` (ISO 8601 with an offset, e.g. the records' own format).
        :param limit: at most this many records; 0 (default): no limit.
        :param follow: keep yielding new records as they are written, until
            the iteration stops (``break``, or closing the iterator) or the
            call fails.
        :param timeout: seconds the whole read may take (default None: no limit).

        Bad arguments raise ``ValueError`` naming the argument; a failed read
        raises :class:`LearningLogError` (also when the client is quiet) and
        is not retried: resume with ``from_seq`` = the last seq + 1. Stopping
        early cancels the call.
        """
        # Checked now, not at the first record.
        request = read_request(from_seq, since, until, event_types, limit, follow, runs)
        return self._read(request, timeout)

    def _read(self, request: Any, timeout: Optional[float]) -> Iterator[LogRecord]:
        call = self._stub.ReadEvents(request, timeout=timeout, metadata=self.connection.metadata)
        try:
            for response in call:
                for message in response.records:
                    yield log_record(message)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from err
        finally:
            call.cancel()  # a no-op once the call has ended

    def list_runs(self, runs: Optional[Sequence[str]] = None, *, timeout: Optional[float] = None) -> RunList:
        """The runs the log holds, from the server's run index (no scan of the
        log): a :class:`RunList` of :class:`RunInfo` (first and last seq and
        timestamp, event count, counts by event type, status, error) by first
        seq, and the ``indexed_seq`` it describes the log up to.

        :param runs: only these runs (run ids); default every run. A run the
            log does not hold is left out.
        :param timeout: seconds, retries included (default the client's).

        Retried like a logging call (it changes nothing); raises
        :class:`LearningLogError` on failure, also when the client is quiet.
        """
        request = list_runs_request(runs)
        return run_list(self.connection.unary(self._stub.ListRuns, request, idempotent=True, timeout=timeout))
