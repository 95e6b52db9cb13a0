"""The event table of the client: the one owner of each ``log_*`` event.

:data:`CATALOG` has a row per event: the method name, the ``LearningEvent``
oneof case carrying it and the event_type the server writes (generated from
the proto into :data:`pulse_learning_log._surfaces.EVENTS`), and its ``fill``
function (:data:`FILLS`), whose parameters after the message *are* the
method's (names, order, defaults, type hints) and which checks and converts
the arguments into the request message. The request message class, the unary
RPC (the one whose input is that message), whether its answer carries
metrics, and the case's key in an encoded ``LearningEvent`` are derived from
the generated descriptors.

The clients (``_ack``: a unary RPC) and the BatchWriters (``_add``: a buffered
``LearningEvent``) each send any row through one generic method. Their named
``log_*`` methods and the module functions, with the original signatures and
docstrings for IDEs, ``help()`` and type checkers, are generated from the
proto and ``clients/event-surfaces.json`` by ``npm run generate`` into
:mod:`pulse_learning_log._surfaces`; tests/test_event_table.py holds them to
the fill functions' signatures.
"""

from __future__ import annotations

import inspect
import os
import struct
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from google.protobuf.message import Message
from ._gen.pulse.learninglog.v1 import learning_log_pb2 as pb

from ._surfaces import EVENTS
from .json_values import check_int, check_number, check_str, fill_struct, fill_value, json_key

__all__ = ["CATALOG", "FILLS", "Event", "new_event_id", "check_event_id", "varint"]

_INT64_MAX = 2**63 - 1


# Event ids are made 256 at a time from one os.urandom call (a syscall per id
# is a visible share of the BatchWriter's cost). list.pop is atomic under the
# GIL; a forked child drops the parent's unused ids so no id is ever shared.
_ID_BATCH = 256
_id_pool: List[str] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_id_pool.clear)


# The variant nibble of a v4 UUID (binary 10xx) from a random hex digit: its two low bits stay random.
_VARIANT_DIGIT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _refill_ids() -> None:
    # One hex string, sliced: about a third of the cost of formatting each id's bytes on their own.
    h = os.urandom(16 * _ID_BATCH).hex()
    v = _VARIANT_DIGIT
    _id_pool.extend([f"{h[i:i + 8]}-{h[i + 8:i + 12]}-4{h[i + 13:i + 16]}-{v[h[i + 16]]}{h[i + 17:i + 20]}-{h[i + 20:i + 32]}" for i in range(0, 32 * _ID_BATCH, 32)])


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


_SMALL_VARINTS = [bytes([n]) for n in range(128)]


def varint(n: int) -> bytes:
    """Protobuf's base-128 encoding of a non-negative integer."""
    if n < 0x80:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _check_dict(value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dictionary, got {type(value).__name__}")
    return value


# -- fill functions: the arguments of each event, checked and converted ------
# The parameters after ``m`` are the public method's, exactly: the generated
# methods of every surface repeat them (tests/test_event_table.py holds them to it).


def fill_generic(m: pb.LogEventRequest, event_type: str, data: Dict[str, Any], context: Optional[Dict[str, Any]] = None) -> None:
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("event_type must be a non-empty string")
    _check_dict(data, "data")
    if context is not None:
        _check_dict(context, "context")
    m.event_type = event_type
    fill_struct(m.data, data, "data")
    if context:
        fill_struct(m.context, context, "context")


def fill_variable_weight_change(m: pb.LogVariableWeightChangeRequest, var: str, old_weight: float, new_weight: float) -> None:
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


# The weight change written straight to its wire bytes: the most frequent
# event, where building the message and serializing it was most of the
# per-call cost of background mode. Field numbers from the descriptor.
_WEIGHT_FIELDS = pb.LogVariableWeightChangeRequest.DESCRIPTOR.fields_by_name
_WEIGHT_VARIABLE_TAG = varint(_WEIGHT_FIELDS["variable"].number << 3 | 2)
_WEIGHT_OLD_TAG = varint(_WEIGHT_FIELDS["old_weight"].number << 3 | 1)
_WEIGHT_NEW_TAG = varint(_WEIGHT_FIELDS["new_weight"].number << 3 | 1)
_WEIGHT_EVENT_ID_TAG = varint(_WEIGHT_FIELDS["event_id"].number << 3 | 2)
_pack_double = struct.Struct("<d").pack
_DOUBLE_ZERO = bytes(8)


def encode_variable_weight_change(event_id: str, var: str, old_weight: float, new_weight: float) -> bytes:
    """What :func:`fill_variable_weight_change` fills, with ``event_id``,
    encoded without making the message: the same checks and errors, and the
    bytes ``SerializeToString`` gives (proto3 leaves out an empty string and a
    double whose bits are all zero; -0.0 is written)."""
    try:
        check_str(var, "var")
        old = _pack_double(check_number(old_weight, "old_weight"))
        new = _pack_double(check_number(new_weight, "new_weight"))
    except ValueError as err:
        raise ValueError(f"Invalid types for variable weight change log. ({err})") from None
    name = var.encode()
    event = event_id.encode()
    n = len(name)
    return b"".join(
        (
            (_WEIGHT_VARIABLE_TAG + (_SMALL_VARINTS[n] if n < 0x80 else varint(n)) + name) if n else b"",
            (_WEIGHT_OLD_TAG + old) if old != _DOUBLE_ZERO else b"",
            (_WEIGHT_NEW_TAG + new) if new != _DOUBLE_ZERO else b"",
            _WEIGHT_EVENT_ID_TAG,
            varint(len(event)),
            event,
        )
    )


def fill_symbolic_upgrade(m: pb.LogSymbolicUpgradeRequest, plan: Dict[str, Any]) -> None:
    fill_struct(m.plan, _check_dict(plan, "plan"), "plan")


def fill_revision_trigger(m: pb.LogRevisionTriggerRequest, reason: str) -> None:
    m.reason = check_str(reason, "reason")


def fill_arc_regret(m: pb.LogArcRegretRequest, scores: Dict[str, float]) -> None:
    """``scores``: a dict of arc name to number."""
    _check_dict(scores, "scores")
    checked = {}
    for arc, score in scores.items():
        name = json_key(arc, "scores")
        checked[name] = check_number(score, f"scores.{name}")
    m.scores.update(checked)


def fill_learning_summary(m: pb.LogLearningSummaryRequest, summary: Dict[str, Any]) -> None:
    fill_struct(m.summary, _check_dict(summary, "summary"), "summary")


def fill_rule_activation(
    m: pb.LogRuleActivationRequest,
    rule_id: str,
    variable_id: str,
    outcome: Any,
    forecast_id: Optional[str] = None,
    success: Optional[bool] = None,
) -> None:
    m.rule_id = check_str(rule_id, "rule_id")
    m.variable_id = check_str(variable_id, "variable_id")
    fill_value(m.outcome, outcome, "outcome")
    if forecast_id is not None:
        m.forecast_id = check_str(forecast_id, "forecast_id")
    if success is not None:
        if not isinstance(success, bool):
            raise ValueError(f"success must be a bool or None, got {type(success).__name__}")
        m.success = success


def fill_bayesian_trust_metrics(m: pb.LogBayesianTrustMetricsRequest, key: str, kind: str = "variable") -> None:
    m.key = check_str(key, "key")
    m.kind = check_str(kind, "kind")


def fill_rule_effectiveness(m: pb.LogRuleEffectivenessRequest, rule_id: str, activation_count: int, success_rate: float, impact_score: float) -> None:
    m.rule_id = check_str(rule_id, "rule_id")
    m.activation_count = check_int(activation_count, "activation_count", -_INT64_MAX - 1, _INT64_MAX)
    m.success_rate = check_number(success_rate, "success_rate")
    m.impact_score = check_number(impact_score, "impact_score")


# -- the table ------------------------------------------------------------------


class Event(NamedTuple):
    """One logging method of the original module: a row of :data:`CATALOG`."""

    #: The method's name, on every surface (e.g. ``log_variable_weight_change``).
    name: str
    #: The ``LearningEvent`` oneof case carrying the event.
    case: str
    #: The record's event_type as the server writes it (src/events/catalog.ts);
    #: None for the generic event, whose caller names it.
    event_type: Optional[str]
    #: Checks the arguments and fills the request message.
    fill: Callable[..., None]
    #: The unary request message class.
    request_class: type
    #: The unary RPC's name in the service (e.g. ``LogVariableWeightChange``).
    rpc: str
    #: The key (field number and wire type) of the case inside an encoded
    #: ``LearningEvent``.
    event_key: bytes
    #: True when the RPC's answer carries the metrics it logged (the clients
    #: return a ``TrustMetricsAck``).
    with_metrics: bool
    #: Writes the request's bytes straight from ``(event_id, *args)``, with
    #: ``fill``'s checks (see :data:`DIRECT_ENCODERS`); None: built and serialized.
    direct: Optional[Callable[..., bytes]] = None

    def request(self, args: Tuple[Any, ...], event_id: Optional[str]) -> Any:
        """The request message of a call: the arguments checked and filled
        in, and the caller's event_id (checked) or a new one."""
        message = self.request_class()
        self.fill(message, *args)
        message.event_id = new_event_id() if event_id is None else check_event_id(event_id)
        return message

    def encode(self, request: Message) -> bytes:
        """A request message as an encoded ``LearningEvent`` (the message
        encoded alone, prefixed with its case's key and its length)."""
        encoded: bytes = request.SerializeToString()
        return self.event_key + varint(len(encoded)) + encoded

    def event_bytes(self, args: Tuple[Any, ...], event_id: Optional[str]) -> Tuple[str, bytes]:
        """The event's id and its encoded ``LearningEvent``: what
        :meth:`request` then :meth:`encode` give, without making the
        message where the row has a direct encoder (the streams' hot path)."""
        direct = self.direct
        if direct is None:
            message = self.request(args, event_id)
            given: str = message.event_id
            return given, self.encode(message)
        given = new_event_id() if event_id is None else check_event_id(event_id)
        encoded = direct(given, *args)
        n = len(encoded)
        return given, self.event_key + (_SMALL_VARINTS[n] if n < 0x80 else varint(n)) + encoded

    def parameters(self) -> List[inspect.Parameter]:
        """The method's own parameters (every surface adds ``self`` and a
        keyword-only ``event_id``): the fill function's after the message."""
        return list(inspect.signature(self.fill).parameters.values())[1:]


def _unary_rpcs() -> Dict[str, Any]:
    """The service's unary methods by their input message's full name."""
    service = pb.DESCRIPTOR.services_by_name["LearningLogService"]
    return {m.input_type.full_name: m for m in service.methods if not m.client_streaming and not m.server_streaming}


_UNARY_BY_INPUT = _unary_rpcs()


def _event(name: str, case: str, event_type: Optional[str], fill: Callable[..., None]) -> Event:
    field = pb.LearningEvent.DESCRIPTOR.fields_by_name[case]
    message = field.message_type
    key = varint((field.number << 3) | 2)
    rpc = _UNARY_BY_INPUT[message.full_name]
    with_metrics = "metrics" in rpc.output_type.fields_by_name
    return Event(name, case, event_type, fill, getattr(pb, message.name), rpc.name, key, with_metrics, DIRECT_ENCODERS.get(case))


#: Each event's fill function, by its ``LearningEvent`` oneof case. Adding an
#: event: the proto, its row in clients/event-surfaces.json, ``npm run
#: generate`` (which writes every surface's method), and its fill function here.
FILLS: Dict[str, Callable[..., None]] = {
    "generic": fill_generic,
    "variable_weight_change": fill_variable_weight_change,
    "symbolic_upgrade": fill_symbolic_upgrade,
    "revision_trigger": fill_revision_trigger,
    "arc_regret": fill_arc_regret,
    "learning_summary": fill_learning_summary,
    "rule_activation": fill_rule_activation,
    "bayesian_trust_metrics": fill_bayesian_trust_metrics,
    "rule_effectiveness": fill_rule_effectiveness,
}


#: Encoders that write a request's bytes without making the message, by
#: case; each takes ``(event_id, *arguments of the fill function)`` and
#: checks as the fill function does (tests/test_client_catalog.py holds their
#: bytes to the message's).
DIRECT_ENCODERS: Dict[str, Callable[..., bytes]] = {
    "variable_weight_change": encode_variable_weight_change,
}


def _catalog() -> Dict[str, Event]:
    missing = [case for _, case, _ in EVENTS if case not in FILLS]
    if missing:
        raise ImportError(f"no fill function for the event case(s) {', '.join(missing)} in pulse_learning_log.events.FILLS")
    return {name: _event(name, case, event_type, FILLS[case]) for name, case, event_type in EVENTS}


#: Method name -> its row, in the proto's order.
CATALOG: Dict[str, Event] = _catalog()
