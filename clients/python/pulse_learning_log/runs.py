"""The run this process logs into: one id per process, on every event it logs.

A run (a training run, an experiment, a deployment) is named, from the
weakest to the strongest, by:

1. ``PULSE_LEARNING_LOG_PATH`` (the original module's log file), when no run
   is named otherwise: the run :func:`run_from_path` derives from it;
2. the environment variable ``PULSE_LEARNING_LOG_RUN``;
3. ``configure(run=...)``;
4. an open ``with pulse_learning_log.run(...)`` block (the innermost).

The environment is read on first use and again by every ``configure()``.
What is in force is resolved once per change (not per event) into a
:class:`CurrentRun`: the id, its encoded ``LearningEvent.run`` field (which
the stream writers append to each event they frame) and its ``pulse-run``
call metadata (which unary calls send). With no run both are empty: a
process that names no run sends exactly what it sent before runs existed.

Each connection that sends an event into a run holds the run open on its
server (HoldRun, see :mod:`~pulse_learning_log.run_hold`) until the run in
force changes, the connection closes, or the interpreter exits; the holds
are registered here so that those moments end them.
"""

from __future__ import annotations

import atexit
import os
import shlex
import threading
import weakref
from typing import List, Optional, Set, Tuple

from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from .diagnostics import logger
from .events import varint

__all__ = [
    "RUN_ENV",
    "PATH_ENV",
    "RUN_METADATA_KEY",
    "RUN_ID_CHARS_MAX",
    "CurrentRun",
    "Hold",
    "check_run_id",
    "run_from_path",
    "current",
    "configure_run",
    "enter_block",
    "leave_block",
    "register_hold",
]

#: The environment variable naming the process's run.
RUN_ENV = "PULSE_LEARNING_LOG_RUN"
#: The original module's log file; here it names a run (see :func:`run_from_path`).
PATH_ENV = "PULSE_LEARNING_LOG_PATH"
#: The request metadata key carrying the call's run.
RUN_METADATA_KEY = "pulse-run"
#: The longest run id, in characters.
RUN_ID_CHARS_MAX = 128

_RUN_FIELD_KEY = varint((pb.LearningEvent.DESCRIPTOR.fields_by_name["run"].number << 3) | 2)


def _allowed(c: str) -> bool:
    return " " <= c <= "~" and c not in '"\\'


def check_run_id(run: object, what: str = "run") -> str:
    """``run`` when it is a valid run id (1 to 128 characters, printable
    ASCII 0x20-0x7E other than ``"`` and ``\\``); else ``ValueError`` naming
    ``what`` and the problem."""
    if not isinstance(run, str):
        raise ValueError(f"{what} must be a string, got {type(run).__name__}")
    if not run:
        raise ValueError(f"{what} must not be empty")
    if len(run) > RUN_ID_CHARS_MAX:
        raise ValueError(f"{what} must be at most {RUN_ID_CHARS_MAX} characters, got {len(run)}")
    for i, c in enumerate(run):
        if not _allowed(c):
            raise ValueError(f"{what} must be printable ASCII other than '\"' and '\\'; character {i} is {c!r}")
    return run


def run_from_path(path: str) -> str:
    """The run the events of ``PULSE_LEARNING_LOG_PATH=path`` go to: the path
    as given when it is a valid run id; else each character that a run id
    cannot hold (outside printable ASCII, ``"`` and ``\\``) becomes ``_``,
    and of a path longer than 128 characters the last 128 are kept (the end
    of a path, its file name, tells runs apart)."""
    sanitised = "".join(c if _allowed(c) else "_" for c in path)
    return sanitised[-RUN_ID_CHARS_MAX:]


class CurrentRun:
    """The run in force, ready for the wire. ``run`` is None when there is none."""

    __slots__ = ("run", "event_field", "metadata")

    def __init__(self, run: Optional[str]):
        #: The run's id.
        self.run = run
        #: The encoded ``LearningEvent.run`` field, appended to an encoded event (b"" without a run).
        self.event_field = b"" if run is None else _RUN_FIELD_KEY + varint(len(run)) + run.encode("ascii")
        #: The call metadata naming the run (empty without one).
        self.metadata: Tuple[Tuple[str, str], ...] = () if run is None else ((RUN_METADATA_KEY, run),)


class Hold:
    """What the registry needs of a hold: its run, whether it was ended, and
    a way to end it (from any thread, any number of times)."""

    #: The run held.
    run: str
    #: Set by :meth:`end` (and in a forked child, which has no hold of its own).
    ended: bool = False

    @property
    def alive(self) -> bool:
        """The hold still stands for its connection (a new one is made otherwise)."""
        return not self.ended

    def end(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


_NO_RUN = CurrentRun(None)

_lock = threading.RLock()
_configured: Optional[str] = None
_blocks: List[Tuple[object, str]] = []  # (block, run), innermost last
_env_read = False
_env_run: Optional[str] = None
_env_path: Optional[str] = None
_current: Optional[CurrentRun] = None  # None: not resolved yet
_warned: Set[Tuple[str, str]] = set()
_holds: "weakref.WeakSet[Hold]" = weakref.WeakSet()


def current() -> CurrentRun:
    """The run in force now (resolved on first use, then kept until a change)."""
    resolved = _current
    if resolved is not None:
        return resolved
    with _lock:
        return _resolve()


def _read_environment() -> None:
    global _env_read, _env_run, _env_path
    env_run = os.environ.get(RUN_ENV) or None
    if env_run is not None:
        check_run_id(env_run, RUN_ENV)
    _env_run = env_run
    _env_path = os.environ.get(PATH_ENV) or None
    _env_read = True


def _resolve() -> CurrentRun:
    """Works out the run in force (lock held), warns about the path, and
    ends the holds of every other run."""
    global _current
    if not _env_read:
        _read_environment()
    run = _blocks[-1][1] if _blocks else _configured if _configured is not None else _env_run
    if _env_path is not None:
        run = _warn_about_path(_env_path, run)
    old = _current
    _current = _NO_RUN if run is None else old if old is not None and old.run == run else CurrentRun(run)
    for hold in list(_holds):
        if hold.run != run:
            hold.end()
            _holds.discard(hold)
    return _current


def _warn_about_path(path: str, named: Optional[str]) -> str:
    """The run of a process whose environment sets ``PULSE_LEARNING_LOG_PATH``;
    tells the user (once per path and run) where its events go instead."""
    run = named if named is not None else run_from_path(path)
    if (path, run) not in _warned:
        _warned.add((path, run))
        how = f"to get them as a file: pulse-log export --run {shlex.quote(run)} > {shlex.quote(path)}"
        if named is None:
            logger.warning("%s=%s: this client writes no file; the events go to the log server, into run %r (derived from the path); %s", PATH_ENV, path, run, how)
        else:
            logger.warning("%s=%s is not used: this client writes no file; the events go to the log server, into run %r; %s", PATH_ENV, path, run, how)
    return run


def configure_run(run: Optional[str]) -> None:
    """``configure(run=...)``: the run of the process when no block names
    one (None: the environment's). Re-reads the environment."""
    if run is not None:
        check_run_id(run)
    with _lock:
        global _configured
        _read_environment()
        _configured = run
        _resolve()


def enter_block(block: object, run: str) -> None:
    """A ``run`` block opens: its run is in force until :func:`leave_block`."""
    check_run_id(run)
    with _lock:
        _blocks.append((block, run))
        _resolve()


def leave_block(block: object) -> None:
    """A ``run`` block closes: the run in force before it is again (the
    holds of the block's run end, unless that run is still in force)."""
    with _lock:
        for i in range(len(_blocks) - 1, -1, -1):
            if _blocks[i][0] is block:
                del _blocks[i]
                break
        _resolve()


def register_hold(hold: Hold) -> bool:
    """Registers a hold that has just started, to be ended when its run is
    no longer in force or at exit. False (and the hold is ended) when its
    run is no longer in force."""
    with _lock:
        if current().run != hold.run:
            hold.end()
            return False
        _holds.add(hold)
        return True


@atexit.register
def _end_holds_at_exit() -> None:
    # Registered when the package is imported, before any BatchWriter's exit
    # hook: atexit runs hooks last-in first-out, so the writers have made
    # their events durable by the time the holds end.
    for hold in list(_holds):
        hold.end()
    _holds.clear()


def _forget_parent() -> None:
    # A forked child has none of the parent's hold threads or calls: marked
    # ended (not cancelled: the calls are the parent's) so that a connection
    # logging in the child holds the run anew.
    global _lock
    _lock = threading.RLock()
    for hold in list(_holds):
        hold.ended = True
    _holds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent)
