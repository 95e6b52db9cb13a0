"""The event catalog on the client side: checks a call's arguments and fills
the request message of its event, the same message whether it goes alone
(a unary Log* RPC) or inside a ``LearningEvent`` (BatchWriter).

One table, :data:`CATALOG`, maps each logging method of the original module
to the ``LearningEvent`` oneof case that carries it; the unary RPC of each
case is found from the service descriptor (the RPC whose input is that
message), so no method name is spelt twice.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional

from google.protobuf.message import Message
from pulse.learninglog.v1 import learning_log_pb2 as pb

from .json_values import check_int, check_number, check_str, fill_struct, fill_value, json_key

__all__ = ["CATALOG", "CatalogEntry", "new_event_id", "check_event_id"]

_INT64_MAX = 2**63 - 1


# Event ids are made 256 at a time from one os.urandom call (a syscall per id
# is a visible share of the BatchWriter's cost). list.pop is atomic under the
# GIL; a forked child drops the parent's unused ids so no id is ever shared.
_ID_BATCH = 256
_id_pool: List[str] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_id_pool.clear)


def _refill_ids() -> None:
    raw = bytearray(os.urandom(16 * _ID_BATCH))
    ids = []
    for i in range(0, len(raw), 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[i : i + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    _id_pool.extend(ids)


def new_event_id() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())``."""
    while True:
        try:
            return _id_pool.pop()
        except IndexError:
            _refill_ids()


def check_event_id(event_id: Any) -> str:
    """A caller-supplied event_id: must be a UUID string (the server checks the form)."""
    return check_str(event_id, "event_id").lower()


def _check_dict(value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dictionary, got {type(value).__name__}")
    return value


def fill_generic(m: Message, event_type: Any, data: Any, context: Any = None) -> None:
    """log_event(event_type, data, context=None)."""
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("event_type must be a non-empty string")
    _check_dict(data, "data")
    if context is not None:
        _check_dict(context, "context")
    m.event_type = event_type
    fill_struct(m.data, data, "data")
    if context:
        fill_struct(m.context, context, "context")


def fill_variable_weight_change(m: Message, var: Any, old_weight: Any, new_weight: Any) -> None:
    """log_variable_weight_change(var, old_weight, new_weight)."""
    try:
        check_str(var, "var")
        old = check_number(old_weight, "old_weight")
        new = check_number(new_weight, "new_weight")
    except ValueError as err:
        # The original's message, with the reason appended.
        raise ValueError(f"Invalid types for variable weight change log. ({err})") from None
    m.variable = var
    m.old_weight = old
    m.new_weight = new


def fill_symbolic_upgrade(m: Message, plan: Any) -> None:
    """log_symbolic_upgrade(plan)."""
    fill_struct(m.plan, _check_dict(plan, "plan"), "plan")


def fill_revision_trigger(m: Message, reason: Any) -> None:
    """log_revision_trigger(reason)."""
    m.reason = check_str(reason, "reason")


def fill_arc_regret(m: Message, scores: Any) -> None:
    """log_arc_regret(scores): a dict of arc name to number."""
    _check_dict(scores, "scores")
    checked = {}
    for arc, score in scores.items():
        name = json_key(arc, "scores")
        checked[name] = check_number(score, f"scores.{name}")
    m.scores.update(checked)


def fill_learning_summary(m: Message, summary: Any) -> None:
    """log_learning_summary(summary)."""
    fill_struct(m.summary, _check_dict(summary, "summary"), "summary")


def fill_rule_activation(
    m: Message,
    rule_id: Any,
    variable_id: Any,
    outcome: Any,
    forecast_id: Optional[Any] = None,
    success: Optional[Any] = None,
) -> None:
    """log_rule_activation(rule_id, variable_id, outcome, forecast_id=None, success=None)."""
    m.rule_id = check_str(rule_id, "rule_id")
    m.variable_id = check_str(variable_id, "variable_id")
    fill_value(m.outcome, outcome, "outcome")
    if forecast_id is not None:
        m.forecast_id = check_str(forecast_id, "forecast_id")
    if success is not None:
        if not isinstance(success, bool):
            raise ValueError(f"success must be a bool or None, got {type(success).__name__}")
        m.success = success


def fill_bayesian_trust_metrics(m: Message, key: Any, kind: Any = "variable") -> None:
    """log_bayesian_trust_metrics(key, kind="variable")."""
    m.key = check_str(key, "key")
    m.kind = check_str(kind, "kind")


def fill_rule_effectiveness(m: Message, rule_id: Any, activation_count: Any, success_rate: Any, impact_score: Any) -> None:
    """log_rule_effectiveness(rule_id, activation_count, success_rate, impact_score)."""
    m.rule_id = check_str(rule_id, "rule_id")
    m.activation_count = check_int(activation_count, "activation_count", -_INT64_MAX - 1, _INT64_MAX)
    m.success_rate = check_number(success_rate, "success_rate")
    m.impact_score = check_number(impact_score, "impact_score")


class CatalogEntry(NamedTuple):
    """One logging method of the original module."""

    #: The ``LearningEvent`` oneof case carrying the event.
    case: str
    #: Checks the arguments and fills the request message.
    fill: Callable[..., None]
    #: The unary request message class.
    request_class: type
    #: The unary RPC's name in the service (e.g. ``LogVariableWeightChange``).
    rpc: str
    #: The key (field number and wire type) of the case inside an encoded
    #: ``LearningEvent``: the writer encodes the request message alone and
    #: prefixes this and the length, which is the encoding of the LearningEvent.
    event_key: bytes


def _rpc_by_input() -> Dict[str, str]:
    service = pb.DESCRIPTOR.services_by_name["LearningLogService"]
    return {m.input_type.full_name: m.name for m in service.methods if not m.client_streaming and not m.server_streaming}


_RPC_BY_INPUT = _rpc_by_input()


def _entry(case: str, fill: Callable[..., None]) -> CatalogEntry:
    field = pb.LearningEvent.DESCRIPTOR.fields_by_name[case]
    message = field.message_type
    return CatalogEntry(case, fill, getattr(pb, message.name), _RPC_BY_INPUT[message.full_name], bytes([(field.number << 3) | 2]))


#: Method name of the original module -> its catalog entry.
CATALOG: Dict[str, CatalogEntry] = {
    "log_event": _entry("generic", fill_generic),
    "log_variable_weight_change": _entry("variable_weight_change", fill_variable_weight_change),
    "log_symbolic_upgrade": _entry("symbolic_upgrade", fill_symbolic_upgrade),
    "log_revision_trigger": _entry("revision_trigger", fill_revision_trigger),
    "log_arc_regret": _entry("arc_regret", fill_arc_regret),
    "log_learning_summary": _entry("learning_summary", fill_learning_summary),
    "log_rule_activation": _entry("rule_activation", fill_rule_activation),
    "log_bayesian_trust_metrics": _entry("bayesian_trust_metrics", fill_bayesian_trust_metrics),
    "log_rule_effectiveness": _entry("rule_effectiveness", fill_rule_effectiveness),
}
