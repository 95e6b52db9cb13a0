"""What the client reports through the standard ``logging`` module.

Everything goes to the logger ``pulse_learning_log`` (never ``print``):
failures a quiet client swallowed (ERROR), events given up after a call had
returned (ERROR), the original's ``[BayesianTrust] ...`` echo (INFO), a
WARNING the first time the server redacts each field path, a WARNING once
saying where the events of ``PULSE_LEARNING_LOG_PATH`` go (see
:mod:`~pulse_learning_log.runs`), and DEBUG once when the server has no HoldRun. Without any
logging configuration Python shows WARNING and above on stderr.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterable, Set, Tuple

__all__ = ["logger", "warn_redacted", "note_redaction_reasons", "forget_redactions"]

#: The client's logger.
logger = logging.getLogger("pulse_learning_log")

_warned_lock = threading.Lock()
_warned: Set[str] = set()


_reasons: Dict[str, Tuple[str, str]] = {}


def note_redaction_reasons(details: Iterable[Any]) -> None:
    """Remembers what the server's PII guard matched in each redacted field
    (``RedactedField`` messages of an ack or a batch answer: the field, "key"
    or "value", the rule), for :func:`warn_redacted` to say."""
    with _warned_lock:
        for d in details:
            if len(_reasons) >= 1000:
                _reasons.clear()
            _reasons[str(d.field)] = (str(d.matched), str(d.rule))


def warn_redacted(event_type: str, paths: Iterable[str]) -> None:
    """Logs a warning for each field path the server redacted that has not
    been warned about before in this process (once per path: a field that
    holds personal data usually does so in every event), naming what the
    PII guard matched (the key or the value) and the rule when the server
    said (see :func:`note_redaction_reasons`)."""
    fresh = []
    with _warned_lock:
        for path in paths:
            if path not in _warned:
                _warned.add(path)
                fresh.append((path, _reasons.get(path)))
    for path, reason in fresh:
        if reason is None:
            why = "its PII guard matched the field's key or its value"
        else:
            why = f"its PII guard matched the {reason[0]}: {reason[1]}"
        logger.warning(
            "the server redacted %s of a %s event (%s); the record holds a placeholder. Logged once per field path.",
            path,
            event_type,
            why,
        )


def forget_redactions() -> None:
    """Forgets which paths were warned about (each warns again once)."""
    with _warned_lock:
        _warned.clear()
