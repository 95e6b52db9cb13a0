"""A scriptable in-process gRPC server implementing the same protocol, for
what the real server cannot be made to do on demand: record the metadata
every call carries, speak TLS, answer a chosen status, or accept calls and
never answer them."""

from __future__ import annotations

import subprocess
import threading
from concurrent import futures
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import grpc
from pulse.learninglog.v1 import learning_log_pb2 as pb
from pulse.learninglog.v1 import learning_log_pb2_grpc as pb_grpc
from pulse.trust.v1 import trust_pb2 as tpb
from pulse.trust.v1 import trust_pb2_grpc as tpb_grpc

# One stream's behaviour: gets the request iterator, the context and the
# stream's number (from 0); yields responses or aborts.
IngestBehaviour = Callable[[Any, grpc.ServicerContext, int], Any]


def answer_all(requests: Any, context: grpc.ServicerContext, stream: int) -> Any:
    """Answers every batch as fully written (what a healthy server does)."""
    for request in requests:
        yield pb.IngestEventsResponse(batch_id=request.batch_id, count=len(request.events), first_seq=1, last_seq=len(request.events))


def never_answer(requests: Any, context: grpc.ServicerContext, stream: int) -> Any:
    """Accepts the stream and reads every batch, but never answers (until the client gives up)."""
    for _ in requests:
        pass
    return
    yield  # pragma: no cover - a generator that never yields


def break_first_stream(code: grpc.StatusCode) -> IngestBehaviour:
    """Ends the first stream with ``code`` after reading its first batch
    (unanswered); answers every later stream fully."""

    def behaviour(requests: Any, context: grpc.ServicerContext, stream: int) -> Any:
        if stream == 0:
            next(iter(requests))
            context.abort(code, "stream broken on purpose")
        yield from answer_all(requests, context, stream)

    return behaviour


class FakeServer(pb_grpc.LearningLogServiceServicer, tpb_grpc.TrustServiceServicer):
    def __init__(
        self,
        credentials: Optional[grpc.ServerCredentials] = None,
        ingest: IngestBehaviour = answer_all,
        unary_delay_s: float = 0.0,
        unary_hangs: bool = False,
        unary_status: Optional[grpc.StatusCode] = None,
        port: int = 0,
    ):
        #: (method name, metadata dict) of every call, in arrival order.
        self.calls: List[Tuple[str, Dict[str, str]]] = []
        #: Event ids received on IngestEvents, in arrival order (resent ones again).
        self.ingested: List[str] = []
        #: Event ids received on LogEvent, in arrival order.
        self.logged: List[str] = []
        #: Every LearningEvent received on IngestEvents, in arrival order.
        self.ingested_events: List[Any] = []
        #: Runs of the HoldRun calls, in arrival order, and how many of each are open now.
        self.holds: List[str] = []
        self.holds_open: Dict[str, int] = {}
        #: HoldRun fails with this status (e.g. UNIMPLEMENTED: a server without it).
        self.hold_status: Optional[grpc.StatusCode] = None
        self._hold_ends: List[threading.Event] = []
        self.ingest = ingest
        self.unary_delay_s = unary_delay_s
        #: LogEvent accepts the call and never answers (until stop()).
        self.unary_hangs = unary_hangs
        #: LogEvent fails with this status.
        self.unary_status = unary_status
        self._stopped = threading.Event()
        self.streams = 0
        self._lock = threading.RLock()  # re-entered by wait_for's predicates
        #: Notified whenever a call or event is recorded or a hold opens or ends.
        self.changed = threading.Condition(self._lock)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_LearningLogServiceServicer_to_server(self, self.server)
        tpb_grpc.add_TrustServiceServicer_to_server(self, self.server)
        if credentials is None:
            self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        else:
            self.port = self.server.add_secure_port(f"127.0.0.1:{port}", credentials)
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopped.set()  # releases handlers that hang
        self.server.stop(grace=None)

    def _record(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append((method, dict(context.invocation_metadata())))
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Waits (at most ``timeout`` s) until ``predicate()`` holds; it is
        checked under the server's lock whenever something is recorded."""
        with self._lock:
            return self.changed.wait_for(predicate, timeout)

    def end_holds(self) -> None:
        """Ends every open HoldRun call from the server's side (as a restart would)."""
        with self._lock:
            ends, self._hold_ends = self._hold_ends, []
        for ended in ends:
            ended.set()

    def runs_of(self, event_ids: Any) -> Dict[str, Optional[str]]:
        """event_id -> the run its LearningEvent named (None: none), for the events ingested with these ids."""
        wanted = set(event_ids)
        with self._lock:
            out: Dict[str, Optional[str]] = {}
            for event in self.ingested_events:
                event_id = getattr(event, event.WhichOneof("event")).event_id
                if event_id in wanted:
                    out[event_id] = event.run if event.HasField("run") else None
            return out

    def metadata_of(self, method: str) -> List[Dict[str, str]]:
        """The metadata of every call of ``method`` so far."""
        with self._lock:
            return [metadata for name, metadata in self.calls if name == method]

    # -- LearningLogService -------------------------------------------------

    def LogEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("LogEvent", context)
        with self._lock:
            self.logged.append(request.event_id)
        if self.unary_delay_s:
            threading.Event().wait(self.unary_delay_s)
        if self.unary_hangs:
            self._stopped.wait()
        if self.unary_status is not None:
            context.abort(self.unary_status, f"{self.unary_status.name} on purpose")
        return pb.LogEventResponse(ack=pb.EventAck(event_id=request.event_id, seq=1, timestamp="2026-01-01T00:00:00.000000+00:00"))

    def IngestEvents(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        self._record("IngestEvents", context)
        with self._lock:
            stream = self.streams
            self.streams += 1

        def recording() -> Any:
            for request in request_iterator:
                with self._lock:
                    for event in request.events:
                        case = event.WhichOneof("event")
                        self.ingested.append(getattr(event, case).event_id)
                        self.ingested_events.append(event)
                    self.changed.notify_all()
                yield request

        yield from self.ingest(recording(), context, stream)

    def HoldRun(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("HoldRun", context)
        if self.hold_status is not None:
            context.abort(self.hold_status, f"{self.hold_status.name} on purpose")
        ended = threading.Event()
        context.add_callback(ended.set)
        with self._lock:
            self._hold_ends.append(ended)
            self.holds.append(request.run)
            self.holds_open[request.run] = self.holds_open.get(request.run, 0) + 1
            self.changed.notify_all()
        try:
            yield pb.HoldRunResponse(run=request.run)
            # Open until the client ends it (or the server stops).
            while not ended.wait(1.0) and not self._stopped.is_set():
                pass
        finally:
            with self._lock:
                self.holds_open[request.run] -= 1
                self.changed.notify_all()

    # -- TrustService -------------------------------------------------------

    def GetMetrics(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("GetMetrics", context)
        return tpb.GetMetricsResponse(metrics=[tpb.KeyMetrics(key=k, trust=0.5, alpha=1, beta=1) for k in request.keys])


def self_signed_certificate(directory: Path) -> Tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for localhost / 127.0.0.1, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "1",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert.read_bytes(), key.read_bytes()
