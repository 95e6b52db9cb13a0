"""Events the process gave up, and the exit status that makes them visible.

A :class:`~pulse_learning_log.BatchWriter` (background mode's, or one of
your own) gives up the events it could not make durable when it fails
(a fatal status, or ``retry_timeout`` of failing) or when closing ran out of
time (``exit_timeout`` into the interpreter's exit, ``close_or_abort``).
Each such loss is logged when it happens and counted here, split into the
events that were **never sent** (the server was never reached: not in the
log) and those **sent without an answer** (they may or may not be in the log).

At the interpreter's exit, after the open writers had their
``exit_timeout``, a process that gave up any event logs one summary
(logger ``pulse_learning_log``, ERROR, with the counts and the cause) and
exits with a non-zero status, so that a scheduler or CI sees the loss
rather than a success. ``PULSE_LEARNING_LOG_EXIT_ON_LOSS`` or
``configure(exit_on_loss=...)`` chooses:

- unset, ``1``, ``true``, ``yes``, ``on``: exit status 1 (the default);
- an integer from 2 to 255: that exit status;
- ``0``, ``false``, ``no``, ``off``: the interpreter's own status (the loss
  is still logged).

The status is set with ``os._exit`` once the client's exit hook is done:
exit hooks registered (``atexit``) before ``pulse_learning_log`` was imported
do not run then; standard streams and ``logging`` are flushed first. An
event :meth:`~pulse_learning_log.BatchWriter.abort` dropped on your request
is not counted; events the server refused are reported (``on_error``,
``on_rejected``) but not counted: they were answered.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Optional, Union

from .diagnostics import logger

__all__ = ["ENVIRONMENT_VARIABLE", "LossLedger", "ledger", "exit_status_for", "set_exit_on_loss"]

#: The environment variable read at exit when ``configure(exit_on_loss=...)`` was not given.
ENVIRONMENT_VARIABLE = "PULSE_LEARNING_LOG_EXIT_ON_LOSS"

_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")


def exit_status_for(value: Union[None, bool, int, str]) -> Optional[int]:
    """The exit status a setting asks for on loss (None: keep the
    interpreter's). ``ValueError`` for anything but a bool, an integer 0 to
    255 or one of the words above."""
    if value is None:
        return 1
    if isinstance(value, bool):
        return 1 if value else None
    if isinstance(value, int):
        if not 0 <= value <= 255:
            raise ValueError(f"exit_on_loss must be a bool or an exit status 0 to 255, got {value!r}")
        return value or None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _OFF:
            return None
        if word in _ON:
            return 1
        if word.isdigit() and int(word) <= 255:
            return int(word)
    raise ValueError(f"{ENVIRONMENT_VARIABLE} must be 0/false/no/off, 1/true/yes/on or an exit status 2 to 255, got {value!r}")


class LossLedger:
    """Counts the events given up in this process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.never_sent = 0
        self.unanswered = 0
        self.cause: Optional[str] = None
        self._setting: Union[None, bool, int, str] = None  # None: the environment's

    def record(self, never_sent: int, unanswered: int, cause: str) -> None:
        """One writer gave up ``never_sent + unanswered`` events for ``cause``."""
        with self._lock:
            self.never_sent += never_sent
            self.unanswered += unanswered
            self.cause = cause

    @property
    def given_up(self) -> int:
        """Events given up so far."""
        return self.never_sent + self.unanswered

    def set_exit_on_loss(self, value: Union[None, bool, int, str]) -> None:
        """``configure(exit_on_loss=...)``; None: back to the environment variable."""
        if value is not None:
            exit_status_for(value)  # refuse a bad value now, not at exit
        self._setting = value

    def exit_status(self) -> Optional[int]:
        """The status to exit with on loss, from the setting or the environment."""
        setting = self._setting if self._setting is not None else os.environ.get(ENVIRONMENT_VARIABLE)
        try:
            return exit_status_for(setting)
        except ValueError as err:
            logger.error("%s; exiting with status 1 on loss", err)
            return 1

    def reset(self) -> None:
        """A forked child starts with nothing given up (the parent's losses are the parent's)."""
        self._lock = threading.Lock()
        self.never_sent = self.unanswered = 0
        self.cause = None

    def exit_if_lost(self) -> None:
        """At the end of the interpreter's exit hook: when events were given
        up, logs the summary and, unless turned off, ends the process with
        the chosen status."""
        if self.given_up == 0:
            return
        status = self.exit_status()
        if status is None:
            outcome = f"the exit status is the interpreter's ({ENVIRONMENT_VARIABLE} is off)"
        else:
            outcome = f"exiting with status {status} ({ENVIRONMENT_VARIABLE}=0 or configure(exit_on_loss=False) keeps the interpreter's)"
        logger.error(
            "pulse_learning_log: %d events were given up in this process: %d never sent (not in the log), %d sent without an answer (they may or may not be in the log); last cause: %s; %s",
            self.given_up,
            self.never_sent,
            self.unanswered,
            self.cause,
            outcome,
        )
        if status is None:
            return
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed stream must not keep the status from being set
                pass
        os._exit(status)


#: This process's ledger.
ledger = LossLedger()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ledger.reset)


def set_exit_on_loss(value: Union[None, bool, int, str]) -> None:
    """See :meth:`LossLedger.set_exit_on_loss`."""
    ledger.set_exit_on_loss(value)
