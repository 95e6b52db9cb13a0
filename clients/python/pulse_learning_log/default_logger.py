"""The process's default logger: what the module-level functions send to.

It holds the settings of :func:`~pulse_learning_log.configure` and, made on
first use, one :class:`LearningLogClient` per process whose ``log_*`` calls
share one IngestEvents stream (durable mode), and in background mode one
:class:`BatchWriter` on that client. Before a fork they are closed (the
writer flushed first, within ``exit_timeout``); parent and child each make
new ones on their next call (gRPC channels and threads do not cross a fork).

Modes:

``durable`` (default): a call returns once its event is durable on the
server, as the original's did once its line was fsynced.

``background``: a call checks its arguments, puts the event in the writer's
bounded buffer and returns None at once; :func:`flush` waits until
everything logged so far is durable. At interpreter exit the buffer gets
``exit_timeout`` seconds to become durable. Every event that is not
written (refused by the server, or given up) is logged (logger
``pulse_learning_log``) and passed to ``on_error``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Optional, Tuple, Union

from .batch_writer import BatchWriter
from .client import LearningLogClient
from .diagnostics import logger
from .errors import LearningLogError
from .fork_support import GRPC_FORK_SUPPORT
from .results import Ack, Rejection, TrustMetricsAck

__all__ = ["DefaultLogger", "MODES", "mode_from_environment"]

#: The modes of the module-level functions.
MODES = ("durable", "background")

# Keywords of configure() that set up the background writer (the rest go to the client).
_WRITER_OPTIONS = ("on_full", "block_timeout", "buffer_events_max", "buffer_bytes_max", "flush_interval", "batch_events_max", "exit_timeout")


def _truthy(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def mode_from_environment() -> str:
    """``PULSE_LEARNING_LOG_MODE`` (durable or background), default durable."""
    mode = (os.environ.get("PULSE_LEARNING_LOG_MODE") or "durable").strip().lower()
    if mode not in MODES:
        raise ValueError(f"PULSE_LEARNING_LOG_MODE must be durable or background, got {mode!r}")
    return mode


class _Process:
    """What one process made: its client and, in background mode, its writer."""

    __slots__ = ("client", "writer")

    def __init__(self, client: LearningLogClient, writer: Optional[BatchWriter]):
        self.client = client
        self.writer = writer


class DefaultLogger:
    """The module-level functions' logger (one per interpreter, see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client_options: Dict[str, Any] = {}
        self._writer_options: Dict[str, Any] = {}
        self._mode: Optional[str] = None  # None: from the environment, read on first use
        self._on_error: Optional[Callable[[Rejection], None]] = None
        self.quiet = _truthy(os.environ.get("PULSE_LEARNING_LOG_QUIET"))
        self._current: Optional[_Process] = None
        if hasattr(os, "register_at_fork"):
            # A forked child starts without the parent's client and writer (no
            # pid check per call: a syscall on the hot path of background mode).
            os.register_at_fork(before=self._before_fork, after_in_child=self._forget_parent)

    def _before_fork(self) -> None:
        # The client and writer are closed before the fork (the writer made
        # durable first, within exit_timeout) and made anew on the next call,
        # in the parent as in the child. gRPC's fork support has to tidy up
        # the parent's open channels in the child, and with a channel of ours
        # open we saw a child hang in it once in 12 to 30 forks; with none, in
        # none of 60. A fork costs the parent a reconnect.
        with self._lock:
            old, self._current = self._current, None
        self._retire(old, why="before fork()")

    def _forget_parent(self) -> None:
        # The parent's channel, stream and writer thread are not this
        # process's: dropped, not closed (gRPC closes its channels in the
        # child); its unsent events stay the parent's. The lock may have been
        # held by another thread of the parent at the fork.
        had_client = self._current is not None
        self._lock = threading.Lock()
        self._current = None
        if had_client and not GRPC_FORK_SUPPORT:
            logger.warning(
                "forked with gRPC fork support off (grpc was imported before pulse_learning_log, without GRPC_ENABLE_FORK_SUPPORT=1): gRPC calls in this child may hang"
            )

    # -- settings -----------------------------------------------------------

    def configure(
        self,
        target: Optional[str],
        mode: Optional[str],
        on_error: Optional[Callable[[Rejection], None]],
        options: Dict[str, Any],
    ) -> None:
        """Replaces the settings (see :func:`pulse_learning_log.configure`);
        the current client and writer are closed (the writer flushed first)."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be durable or background, got {mode!r}")
        if on_error is not None and not callable(on_error):
            raise ValueError("on_error must be callable")
        if "quiet" in options:
            self.quiet = bool(options.pop("quiet"))
        if "stream" in options:
            raise ValueError("the default client always uses the shared stream; 'stream' is not an option of configure()")
        writer_options = {k: options.pop(k) for k in _WRITER_OPTIONS if k in options}
        client_options = dict(options)
        if target is not None:
            client_options["target"] = target
        # Fail now, not on the first log call, when the settings are wrong.
        LearningLogClient(**client_options).close()
        if writer_options:
            _check_writer_options(writer_options)
        with self._lock:
            old, self._current = self._current, None
            self._client_options, self._writer_options = client_options, writer_options
            self._mode, self._on_error = mode, on_error
        self._retire(old)

    def client_options(self) -> Dict[str, Any]:
        """The client keywords of the last :func:`configure` (target, token,
        credentials, timeout, ...), for a client made to match the default one."""
        return dict(self._client_options)

    @property
    def mode(self) -> str:
        """The mode in force: configured, else from the environment."""
        return self._mode if self._mode is not None else mode_from_environment()

    def set_quiet(self, quiet: bool) -> None:
        self.quiet = bool(quiet)
        current = self._current
        if current is not None:
            current.client.quiet = self.quiet

    # -- this process's client and writer -------------------------------------

    def _process(self) -> _Process:
        current = self._current
        if current is not None:
            return current
        with self._lock:
            current = self._current
            if current is None:
                mode = self.mode
                client = LearningLogClient(**self._client_options, quiet=self.quiet, stream=True)
                writer = None
                if mode == "background":
                    writer = BatchWriter(client=client, on_rejected=self._report, on_dropped=self._report, **self._writer_options)
                current = self._current = _Process(client, writer)
            return current

    def client(self) -> LearningLogClient:
        """This process's default client, made on first use."""
        return self._process().client

    def _report(self, rejection: Rejection) -> None:
        # Already logged by the writer; the user's callback hears of it too.
        callback = self._on_error
        if callback is not None:
            callback(rejection)

    # -- the module functions ---------------------------------------------------

    def send(self, method: str, args: Tuple[Any, ...], event_id: Optional[str]) -> Union[Ack, TrustMetricsAck, None]:
        """One module-level ``log_*`` call of the event row ``method``:
        durable (returns the Ack, a TrustMetricsAck for an event whose answer
        carries metrics) or buffered (returns None)."""
        process = self._process()
        writer = process.writer
        if writer is not None:
            try:
                writer._add(method, args, event_id)
            except LearningLogError as err:  # the buffer is full (on_full="raise") or the writer failed
                if not self.quiet:
                    raise
                process.client._failed(err)
            return None
        return process.client._ack(method, args, event_id)

    def synchronous(self) -> LearningLogClient:
        """The client, for calls that return what the server computed (trust
        report, export, import). In background mode the buffer is flushed
        first, so the log keeps the calls' order."""
        process = self._process()
        if process.writer is not None:
            process.writer.flush()
        return process.client

    def flush(self, timeout: Optional[float] = None) -> None:
        """Returns once everything logged so far is durable (background
        mode; durable mode has nothing pending). ``TimeoutError`` after
        ``timeout`` seconds; the writer's fatal error if it failed."""
        current = self._current
        if current is None or current.writer is None:
            return
        current.writer.flush(timeout)

    def close(self) -> None:
        """Flushes (within ``exit_timeout``) and closes this process's writer
        and client; the next call makes new ones. Events that could not be
        written were reported (logger, ``on_error``); this does not raise."""
        with self._lock:
            old, self._current = self._current, None
        self._retire(old)

    @staticmethod
    def _retire(old: Optional[_Process], why: str = "after close() or configure()") -> None:
        if old is None:
            return
        try:
            if old.writer is not None:
                # Bounded: a silent server must not hang configure(), close() or fork().
                old.writer.close_or_abort(why=why)
        finally:
            old.client.close()


def _check_writer_options(options: Dict[str, Any]) -> None:
    """Builds (and closes at once) a writer with these options, so bad ones fail in configure()."""
    probe = BatchWriter("127.0.0.1:1", **options)
    probe.abort()
