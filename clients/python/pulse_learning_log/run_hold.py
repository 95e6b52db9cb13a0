"""Holding a run open on the server (HoldRun) while the process logs into it.

The server answers a HoldRun call once and keeps it open; when the call
ends and the run has no ``run_finished`` record, the run is listed as
"ended without a finish record": the process died. So a process holds its
run for as long as it logs into it, from a daemon thread here (a task in
:mod:`pulse_learning_log.aio`), re-opening the call with backoff after it
fails, and ends it when the run is over (see :mod:`~pulse_learning_log.runs`).

Quiet and cheap: one call, no traffic while it is open; a server without
HoldRun (UNIMPLEMENTED) means no hold, logged once at DEBUG.
"""

from __future__ import annotations

import os
import random
import threading
from typing import Any, Optional, Set, Tuple

import grpc
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .diagnostics import logger
from .runs import Hold

__all__ = ["HOLD_PATH", "RunHold", "hold_backoff", "stops_hold"]

_SERVICE = pb.DESCRIPTOR.services_by_name["LearningLogService"]

#: Method path of HoldRun.
HOLD_PATH = f"/{_SERVICE.full_name}/{_SERVICE.methods_by_name['HoldRun'].name}"

#: Waits before re-opening a hold, in seconds: from the first, doubling to the last.
HOLD_BACKOFF_INITIAL_S = 0.2
HOLD_BACKOFF_MAX_S = 5.0

# Statuses after which re-opening the hold cannot help: the server has no
# HoldRun, or refuses this caller or run. The process keeps logging unheld.
_FINAL_CODES = (
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.INVALID_ARGUMENT,
)

_told_lock = threading.Lock()
_told: Set[Any] = set()


def stops_hold(code: Any, run: str) -> bool:
    """True when a hold that failed with ``code`` is not re-opened; says why
    (DEBUG, once per status per process)."""
    if code not in _FINAL_CODES:
        return False
    with _told_lock:
        first = code not in _told
        _told.add(code)
    if first:
        logger.debug("HoldRun failed with %s: run %r is not held open on the server (it is still logged into)", code.name, run)
    return True


def hold_backoff(attempt: int) -> float:
    """Seconds to wait before re-opening a hold after ``attempt`` failures in a row (from 1), with jitter."""
    ceiling: float = min(HOLD_BACKOFF_MAX_S, HOLD_BACKOFF_INITIAL_S * (2 ** (attempt - 1)))
    return ceiling * (0.5 + random.random() / 2)


class RunHold(Hold):
    """Holds ``run`` open on ``channel`` from a daemon thread until :meth:`end`.

    :param channel: the ``grpc`` channel of the connection logging into the run.
    :param metadata: the connection's call metadata (the bearer token).
    :param run: the run's id.
    """

    def __init__(self, channel: grpc.Channel, metadata: Tuple[Tuple[str, str], ...], run: str):
        self.run = run
        self.ended = False
        self._method = channel.unary_stream(HOLD_PATH, request_serializer=pb.HoldRunRequest.SerializeToString, response_deserializer=pb.HoldRunResponse.FromString)
        self._metadata = metadata
        self._lock = threading.Lock()
        self._call: Any = None
        self._wake = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._hold, name="pulse-learning-log-run-hold", daemon=True)
        self._thread.start()

    def _hold(self) -> None:
        failures = 0
        request = pb.HoldRunRequest(run=self.run)
        while True:
            with self._lock:
                if self.ended:
                    return
                call = self._call = self._method(request, metadata=self._metadata)
            code: Optional[grpc.StatusCode] = None
            try:
                for _ in call:
                    failures = 0  # held: the server answered
            except grpc.RpcError as err:
                code = err.code()
            except Exception as err:  # noqa: BLE001 - the hold thread must not die loudly
                logger.debug("HoldRun for run %r failed: %r", self.run, err)
            if self.ended or (code is not None and stops_hold(code, self.run)):
                return
            # Ended by the server (shutdown, restart) or failed: hold again.
            failures += 1
            self._wake.wait(hold_backoff(failures))

    def end(self) -> None:
        """Ends the hold: the call is cancelled, the thread ends."""
        with self._lock:
            self.ended = True
            call = self._call
        self._wake.set()
        if call is not None and self._pid == os.getpid():
            call.cancel()
