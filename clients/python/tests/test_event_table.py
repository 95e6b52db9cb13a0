"""The event table, ``pulse_learning_log.events.CATALOG``, owns every ``log_*``
event: each surface (LearningLogClient, BatchWriter, the module functions, and
the asyncio client and writer of ``pulse_learning_log.aio``) has one method
per row (generated into ``pulse_learning_log._surfaces``), with the row's
signature, that forwards its own event and arguments; the table matches the
proto; and the public signatures are still the original module's. No server
needed."""

from __future__ import annotations

import asyncio
import inspect
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple
from unittest import mock

from helpers import original_record
from pulse.learninglog.v1 import learning_log_pb2 as pb

import pulse_learning_log
from pulse_learning_log import BatchWriter, LearningLogClient
from pulse_learning_log import aio
from pulse_learning_log.events import CATALOG

P = inspect.Parameter
EVENT_ID = P("event_id", P.KEYWORD_ONLY, default=None, annotation="Optional[str]")
SELF = P("self", P.POSITIONAL_OR_KEYWORD)


def client_return(name: str) -> str:
    """What the client method and module function of an event return."""
    return "Optional[TrustMetricsAck]" if name == "log_bayesian_trust_metrics" else "Optional[Ack]"


def surfaces(name: str) -> Dict[str, Tuple[Optional[Callable[..., Any]], inspect.Signature]]:
    """Each surface's function for the event ``name`` (None when missing) and
    the signature the table says it has."""
    params = CATALOG[name].parameters()
    method = [SELF, *params, EVENT_ID]
    return {
        "LearningLogClient": (getattr(LearningLogClient, name, None), inspect.Signature(method, return_annotation=client_return(name))),
        "BatchWriter": (getattr(BatchWriter, name, None), inspect.Signature(method, return_annotation="str")),
        "aio.LearningLogClient": (getattr(aio.LearningLogClient, name, None), inspect.Signature(method, return_annotation=client_return(name))),
        "aio.BatchWriter": (getattr(aio.BatchWriter, name, None), inspect.Signature(method, return_annotation="str")),
        "pulse_learning_log": (getattr(pulse_learning_log, name, None), inspect.Signature([*params, EVENT_ID], return_annotation=client_return(name))),
    }


class Recorder:
    """Stands in for a client or writer: records what its generic method got."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Tuple[Any, ...], Any]] = []

    def _log(self, method: str, args: Tuple[Any, ...], event_id: Any) -> None:
        self.calls.append((method, args, event_id))

    _ack = _add = _log


class AsyncRecorder(Recorder):
    """Recorder for the asyncio surfaces: its generic methods are coroutines."""

    async def _alog(self, method: str, args: Tuple[Any, ...], event_id: Any) -> None:
        self.calls.append((method, args, event_id))

    _ack = _add = _log = _alog  # type: ignore[assignment]


class FakeDefaultLogger:
    """Stands in for the module functions' default logger: records the event and arguments sent."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Tuple[Any, ...], Any]] = []

    def send(self, method: str, args: Tuple[Any, ...], event_id: Any) -> None:
        self.calls.append((method, args, event_id))

    def trust_metrics(self, key: Any, kind: Any, event_id: Any) -> None:
        self.calls.append(("log_bayesian_trust_metrics", (key, kind), event_id))


class EventTableTest(unittest.TestCase):
    def test_every_event_has_a_wrapper_on_every_surface_with_the_tables_signature(self) -> None:
        for name in CATALOG:
            for surface, (function, expected) in surfaces(name).items():
                with self.subTest(event=name, surface=surface):
                    self.assertTrue(callable(function), f"{surface}.{name} is missing")
                    self.assertEqual(inspect.signature(function), expected)
                    self.assertTrue(function.__doc__, f"{surface}.{name} has no docstring")
        # The original module-level alias of log_event.
        self.assertEqual(inspect.signature(pulse_learning_log.log_learning_event), inspect.signature(pulse_learning_log.log_event))

    def test_every_log_method_of_every_surface_is_in_the_table(self) -> None:
        names = set(CATALOG)
        for surface, owner in (("LearningLogClient", LearningLogClient), ("BatchWriter", BatchWriter), ("aio.LearningLogClient", aio.LearningLogClient), ("aio.BatchWriter", aio.BatchWriter)):
            with self.subTest(surface=surface):
                self.assertEqual({n for n in dir(owner) if n.startswith("log_")}, names)
                for n in names:
                    self.assertEqual(inspect.iscoroutinefunction(getattr(owner, n)), surface.startswith("aio."), n)
        module_functions = {n for n in pulse_learning_log.__all__ if n.startswith("log_")}
        self.assertEqual(module_functions, names | {"log_learning_event"})

    def test_wrappers_forward_their_own_event_and_arguments_in_order(self) -> None:
        for name, event in CATALOG.items():
            params = event.parameters()
            args = tuple(object() for _ in params)
            event_id = object()
            required = tuple(a for a, p in zip(args, params) if p.default is P.empty)
            defaults = tuple(p.default for p in params if p.default is not P.empty)
            for surface, owner in (("LearningLogClient", LearningLogClient), ("BatchWriter", BatchWriter)):
                with self.subTest(event=name, surface=surface):
                    fake = Recorder()
                    getattr(owner, name)(fake, *args, event_id=event_id)
                    getattr(owner, name)(fake, *required)
                    self.assertEqual(fake.calls, [(name, args, event_id), (name, required + defaults, None)])
            for surface, owner in (("aio.LearningLogClient", aio.LearningLogClient), ("aio.BatchWriter", aio.BatchWriter)):
                with self.subTest(event=name, surface=surface):
                    afake = AsyncRecorder()

                    async def both() -> None:
                        await getattr(owner, name)(afake, *args, event_id=event_id)
                        await getattr(owner, name)(afake, *required)

                    asyncio.run(both())
                    self.assertEqual(afake.calls, [(name, args, event_id), (name, required + defaults, None)])
            for function_name in [name] + (["log_learning_event"] if name == "log_event" else []):
                with self.subTest(event=name, surface=f"pulse_learning_log.{function_name}"):
                    default = FakeDefaultLogger()
                    with mock.patch.object(pulse_learning_log, "_default", default):
                        getattr(pulse_learning_log, function_name)(*args, event_id=event_id)
                        getattr(pulse_learning_log, function_name)(*required)
                    self.assertEqual(default.calls, [(name, args, event_id), (name, required + defaults, None)])

    def test_docstrings_name_the_events_record(self) -> None:
        for name, event in CATALOG.items():
            if event.event_type is None:
                continue
            for surface, (function, _) in surfaces(name).items():
                with self.subTest(event=name, surface=surface):
                    self.assertIn(f"``{event.event_type}``", function.__doc__)

    def test_the_table_covers_the_proto(self) -> None:
        oneof = pb.LearningEvent.DESCRIPTOR.oneofs_by_name["event"]
        self.assertEqual(sorted(e.case for e in CATALOG.values()), sorted(f.name for f in oneof.fields))
        service = pb.DESCRIPTOR.services_by_name["LearningLogService"]
        for name, event in CATALOG.items():
            with self.subTest(event=name):
                self.assertIs(service.methods_by_name[event.rpc].input_type, event.request_class.DESCRIPTOR)
                self.assertIs(pb.LearningEvent.DESCRIPTOR.fields_by_name[event.case].message_type, event.request_class.DESCRIPTOR)
                request = event.request_class(event_id="0b2f3c4d-1111-4222-8333-444455556666")
                decoded = pb.LearningEvent.FromString(event.encode(request))
                self.assertEqual(decoded.WhichOneof("event"), event.case)
                self.assertEqual(getattr(decoded, event.case), request)

    def test_event_types_are_the_original_modules(self) -> None:
        samples = {
            "log_variable_weight_change": ("hope", 1.0, 1.2),
            "log_symbolic_upgrade": ({"hope": "+0.1"},),
            "log_revision_trigger": ("reason",),
            "log_arc_regret": ({"arc": 0.5},),
            "log_learning_summary": ({"summary": "s"},),
            "log_rule_activation": ("R001", "hope", "success"),
            "log_bayesian_trust_metrics": ("key",),
            "log_rule_effectiveness": ("R001", 10, 0.8, 0.5),
        }
        self.assertEqual(set(samples), {n for n, e in CATALOG.items() if e.event_type is not None})
        for name, args in samples.items():
            with self.subTest(event=name):
                self.assertEqual(CATALOG[name].event_type, original_record(name, *args)["event_type"])


# The original module's functions and PulseLearningLogger methods (without self).
ORIGINAL_SIGNATURES = {
    "log_learning_event": "(event_type, data, context=None)",
    "log_event": "(event_type, data, context=None)",
    "log_variable_weight_change": "(var, old_weight, new_weight)",
    "log_symbolic_upgrade": "(plan)",
    "log_revision_trigger": "(reason)",
    "log_arc_regret": "(scores)",
    "log_learning_summary": "(summary)",
    "log_rule_activation": "(rule_id, variable_id, outcome, forecast_id=None, success=None)",
    "log_bayesian_trust_metrics": "(key, kind='variable')",
    "log_rule_effectiveness": "(rule_id, activation_count, success_rate, impact_score)",
    "generate_trust_report": "(min_samples=5)",
    "export_trust_data": "(filepath)",
    "import_trust_data": "(filepath)",
}


def original_part(function: Callable[..., Any]) -> Tuple[str, List[inspect.Parameter]]:
    """The positional parameters, without annotations (as the original's
    were), and the rest, which must be optional additions."""
    params = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    positional = [p.replace(annotation=P.empty) for p in params if p.kind == P.POSITIONAL_OR_KEYWORD]
    return str(inspect.Signature(positional)), [p for p in params if p.kind != P.POSITIONAL_OR_KEYWORD]


class OriginalSignaturesTest(unittest.TestCase):
    def test_positional_parameters_are_the_originals_and_additions_are_optional_keywords(self) -> None:
        for name, original in ORIGINAL_SIGNATURES.items():
            functions = [("pulse_learning_log", getattr(pulse_learning_log, name))]
            if name != "log_learning_event":
                functions.append(("LearningLogClient", getattr(LearningLogClient, name)))
            if name.startswith("log_") and name != "log_learning_event":
                functions.append(("BatchWriter", getattr(BatchWriter, name)))
            for surface, function in functions:
                with self.subTest(surface=surface, name=name):
                    positional, rest = original_part(function)
                    self.assertEqual(positional, original)
                    for p in rest:
                        self.assertTrue(p.kind == P.VAR_KEYWORD or (p.kind == P.KEYWORD_ONLY and p.default is not P.empty), p)

    def test_typed_signatures_as_released(self) -> None:
        expected = {
            pulse_learning_log.log_learning_event: "(event_type: 'str', data: 'Dict[str, Any]', context: 'Optional[Dict[str, Any]]' = None, *, event_id: 'Optional[str]' = None) -> 'Optional[Ack]'",
            pulse_learning_log.log_variable_weight_change: "(var: 'str', old_weight: 'float', new_weight: 'float', *, event_id: 'Optional[str]' = None) -> 'Optional[Ack]'",
            pulse_learning_log.log_rule_activation: (
                "(rule_id: 'str', variable_id: 'str', outcome: 'Any', forecast_id: 'Optional[str]' = None, success: 'Optional[bool]' = None, "
                "*, event_id: 'Optional[str]' = None) -> 'Optional[Ack]'"
            ),
            pulse_learning_log.log_bayesian_trust_metrics: "(key: 'str', kind: 'str' = 'variable', *, event_id: 'Optional[str]' = None) -> 'Optional[TrustMetricsAck]'",
            pulse_learning_log.log_arc_regret: "(scores: 'Dict[str, float]', *, event_id: 'Optional[str]' = None) -> 'Optional[Ack]'",
            LearningLogClient.log_rule_effectiveness: (
                "(self, rule_id: 'str', activation_count: 'int', success_rate: 'float', impact_score: 'float', *, event_id: 'Optional[str]' = None) -> 'Optional[Ack]'"
            ),
            BatchWriter.log_symbolic_upgrade: "(self, plan: 'Dict[str, Any]', *, event_id: 'Optional[str]' = None) -> 'str'",
            pulse_learning_log.generate_trust_report: "(min_samples: 'int' = 5, **thresholds: 'Any') -> 'Optional[Dict[str, Any]]'",
        }
        for function, signature in expected.items():
            with self.subTest(function=function.__qualname__):
                self.assertEqual(str(inspect.signature(function)), signature)


if __name__ == "__main__":
    unittest.main()
