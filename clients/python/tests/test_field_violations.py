"""The refused fields of a status: the server sends them as gRPC's rich error
model (trailer ``grpc-status-details-bin``: a google.rpc.Status whose details
hold a google.rpc.BadRequest) and every typed error carries them as
``field_violations``; ``()`` when a status names no field or the trailer is
missing or broken."""

from __future__ import annotations

import unittest
from typing import Any, Optional, Sequence, Tuple
from unittest import mock

import grpc
from fake_server import FakeServer
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from helpers import ServerProcess, TempDir, free_port, read_lines, start_server_in_temp_dir

import pulse_learning_log
from pulse_learning_log import (
    BatchWriter,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    LearningLogClient,
    LearningLogError,
    PermissionDenied,
    Unavailable,
)
from pulse_learning_log import events as events_module
from pulse_learning_log.errors import error_for, error_from_rpc, field_violations_from_rpc

server: ServerProcess
tmp: TempDir

NOT_FINITE = "NaN is not a finite number (JSON cannot hold NaN or Infinity)"


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


def status_details(code: grpc.StatusCode, message: str, violations: Sequence[Tuple[str, str]], *, extra: Sequence[Any] = ()) -> bytes:
    """A ``grpc-status-details-bin`` value as the server builds it."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in extra:
        status.details.add().Pack(detail)
    if violations:
        bad_request = error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations])
        status.details.add().Pack(bad_request)
    return status.SerializeToString()


class FakeRpcError(grpc.RpcError):
    """What grpcio raises, as far as the client reads it."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: Optional[Sequence[Tuple[str, Any]]] = ()):
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        if isinstance(self._trailers, BaseException):
            raise self._trailers
        return self._trailers


def _unchecked_number(value: Any, what: str) -> float:
    return float(value)


def _unchecked_struct(message: Any, value: Any, path: str) -> None:
    message.update(value)


class RealServerViolationsTest(unittest.TestCase):
    """Against the real server. The client refuses NaN itself (a ValueError
    before anything is sent), so these tests switch its local checks off to
    let the server see the value."""

    def assert_one_violation(self, err: LearningLogError, field: str, description: Optional[str] = None) -> None:
        self.assertEqual(len(err.field_violations), 1, err.field_violations)
        violation = err.field_violations[0]
        self.assertIsInstance(violation, FieldViolation)
        self.assertEqual(violation.field, field)
        if description is not None:
            self.assertEqual(violation.description, description)
        self.assertTrue(violation.description)
        self.assertEqual(err.details, f"{violation.field}: {violation.description}")
        self.assertEqual(str(err), f"{err.code.name}: {violation.field}: {violation.description}")

    def test_nan_weight_names_old_weight(self) -> None:
        before = len(read_lines(server.log_path))
        with LearningLogClient(server.address) as client:
            with mock.patch.object(events_module, "check_number", _unchecked_number):
                with self.assertRaises(InvalidArgument) as caught:
                    client.log_variable_weight_change("x", float("nan"), 1.0)
        err = caught.exception
        self.assertEqual(err.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(err.field_violations, (FieldViolation("old_weight", NOT_FINITE),))
        self.assert_one_violation(err, "old_weight", NOT_FINITE)
        self.assertIsInstance(err.__cause__, grpc.RpcError)
        self.assertEqual(len(read_lines(server.log_path)), before)

    def test_nan_nested_in_data_names_its_path(self) -> None:
        with LearningLogClient(server.address) as client:
            with mock.patch.object(events_module, "fill_struct", _unchecked_struct):
                with self.assertRaises(InvalidArgument) as caught:
                    client.log_event("t", {"ok": 1, "deep": {"v": float("nan")}})
        self.assert_one_violation(caught.exception, "data.deep.v", NOT_FINITE)

    def test_unchecked_fields_of_a_client_call(self) -> None:
        # No local check stands in the way of these: the client sends them.
        with LearningLogClient(server.address) as client:
            with self.assertRaises(InvalidArgument) as caught:
                client.log_event("line\nbreak", {"a": 1})
            self.assert_one_violation(caught.exception, "event_type")
            with self.assertRaises(InvalidArgument) as caught:
                client.export_trust_data("../outside.json")
            self.assert_one_violation(caught.exception, "filepath")
            with self.assertRaises(InvalidArgument) as caught:
                client.trust.export_to_file("../outside.json")
            self.assert_one_violation(caught.exception, "path")

    def test_a_status_about_no_field_has_none(self) -> None:
        server.trust_dir.mkdir(parents=True, exist_ok=True)
        (server.trust_dir / "broken.json").write_text("{not json", encoding="utf-8")
        with LearningLogClient(server.address) as client:
            with self.assertRaises(FailedPrecondition) as caught:
                client.trust.import_from_file("broken.json")
        self.assertEqual(caught.exception.field_violations, ())
        self.assertIn("not valid JSON", caught.exception.details)

    def test_a_transport_failure_has_none(self) -> None:
        with LearningLogClient(f"127.0.0.1:{free_port()}", timeout=2, retry_attempts=1) as client:
            with self.assertRaises(Unavailable) as caught:
                client.log_revision_trigger("nobody listens")
        self.assertEqual(caught.exception.field_violations, ())

    def test_quiet_mode_is_unchanged(self) -> None:
        with LearningLogClient(server.address, quiet=True) as client:
            with self.assertLogs("pulse_learning_log", "ERROR") as logged:
                self.assertIsNone(client.log_event("line\nbreak", {"a": 1}))
        self.assertIn("event_type:", logged.records[0].getMessage())


class BatchWriterViolationsTest(unittest.TestCase):
    """A fatal status of the IngestEvents stream keeps its violations on
    ``writer.error`` and on every error raised from it."""

    def test_stream_status_violations_reach_flush_log_and_close(self) -> None:
        field = "events[0].variable_weight_change.old_weight"

        def refuse(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            for _ in requests:
                context.set_trailing_metadata((("grpc-status-details-bin", status_details(grpc.StatusCode.PERMISSION_DENIED, f"{field}: refused", [(field, "refused")])),))
                context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{field}: refused")
            yield  # pragma: no cover - a generator that never yields

        fake = FakeServer(ingest=refuse)
        writer = BatchWriter(fake.address)
        try:
            writer.log_revision_trigger("refused")
            expected = (FieldViolation(field, "refused"),)
            with self.assertRaises(PermissionDenied) as caught:
                writer.flush(timeout=20)
            self.assertEqual(caught.exception.field_violations, expected)
            self.assertEqual(writer.error.field_violations, expected)
            with self.assertRaises(PermissionDenied) as caught:
                writer.log_revision_trigger("after the failure")
            self.assertEqual(caught.exception.field_violations, expected)
            with self.assertRaises(PermissionDenied) as caught:
                writer.close(timeout=20)
            self.assertEqual(caught.exception.field_violations, expected)
        finally:
            writer.abort()
            fake.stop()

    def test_a_status_without_details_has_none(self) -> None:
        def refuse(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no token")
            yield  # pragma: no cover - a generator that never yields

        fake = FakeServer(ingest=refuse)
        writer = BatchWriter(fake.address)
        try:
            writer.log_revision_trigger("refused")
            with self.assertRaises(PermissionDenied) as caught:
                writer.flush(timeout=20)
            self.assertEqual(caught.exception.field_violations, ())
        finally:
            writer.abort()
            fake.stop()


class DecodingTest(unittest.TestCase):
    """``error_from_rpc`` reads the trailer and never raises doing so."""

    def test_exported(self) -> None:
        self.assertIn("FieldViolation", pulse_learning_log.__all__)
        self.assertIn("FieldViolation", pulse_learning_log.errors.__all__)
        self.assertEqual(FieldViolation("f", "d"), ("f", "d"))
        self.assertEqual(FieldViolation("f", "d").field, "f")

    def test_every_violation_in_order(self) -> None:
        trailer = status_details(
            grpc.StatusCode.INVALID_ARGUMENT,
            "a: x; b.c[2]: y",
            [("a", "x"), ("b.c[2]", "y")],
            extra=[duration_pb2.Duration(seconds=1), status_pb2.Status(code=1)],
        )
        err = error_from_rpc(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "a: x; b.c[2]: y", [("other", "v"), ("grpc-status-details-bin", trailer)]))
        self.assertIsInstance(err, InvalidArgument)
        self.assertEqual(err.field_violations, (FieldViolation("a", "x"), FieldViolation("b.c[2]", "y")))
        self.assertEqual(err.details, "; ".join(f"{v.field}: {v.description}" for v in err.field_violations))

    def test_missing_or_broken_trailers_give_none(self) -> None:
        code = grpc.StatusCode.INVALID_ARGUMENT
        wrong_type = any_pb2.Any(type_url="type.googleapis.com/google.rpc.BadRequest", value=b"\xff\xff\xff")
        broken_detail = status_pb2.Status(code=code.value[0], details=[wrong_type]).SerializeToString()
        for trailers in (
            (),
            None,
            [("grpc-status-details-bin", b"\xff\x00 not a status")],
            [("grpc-status-details-bin", "text, not bytes")],
            [("grpc-status-details-bin", broken_detail)],
            [("grpc-status-details-bin", status_details(code, "m", []))],
            [("grpc-status-details-bin", status_details(code, "m", [], extra=[duration_pb2.Duration(seconds=1)]))],
            # A status other than the call's (e.g. replaced by a proxy) is not about this call.
            [("grpc-status-details-bin", status_details(grpc.StatusCode.NOT_FOUND, "m", [("f", "d")]))],
            RuntimeError("trailers unavailable"),
        ):
            with self.subTest(trailers=trailers):
                err = error_from_rpc(FakeRpcError(code, "m", trailers))
                self.assertIsInstance(err, InvalidArgument)
                self.assertEqual(err.field_violations, ())
                self.assertEqual(err.details, "m")
        self.assertEqual(field_violations_from_rpc(object()), ())

    def test_errors_made_without_a_status_have_none(self) -> None:
        self.assertEqual(error_for(grpc.StatusCode.NOT_FOUND, "gone").field_violations, ())
        self.assertEqual(LearningLogError("x").field_violations, ())
        self.assertEqual(InvalidArgument("x").field_violations, ())

    def test_code_override_keeps_the_violations(self) -> None:
        trailer = status_details(grpc.StatusCode.CANCELLED, "f: d", [("f", "d")])
        err = error_from_rpc(FakeRpcError(grpc.StatusCode.CANCELLED, "f: d", [("grpc-status-details-bin", trailer)]), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(err.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertEqual(err.field_violations, (FieldViolation("f", "d"),))


if __name__ == "__main__":
    unittest.main()
