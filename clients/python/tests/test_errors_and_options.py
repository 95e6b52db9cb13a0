"""Failures are visible: bad arguments raise ValueError before anything is
sent, server refusals and transport failures raise typed LearningLogErrors
carrying the gRPC status, and quiet mode restores print-and-continue.
Also: the bearer token rides on every call, and TLS credentials are used."""

from __future__ import annotations

import contextlib
import io
import math
import time
import unittest

import grpc
from fake_server import FakeServer, self_signed_certificate
from helpers import ServerProcess, TempDir, free_port, read_lines, start_server_in_temp_dir

from pulse_learning_log import (
    BatchWriter,
    DeadlineExceeded,
    InvalidArgument,
    LearningLogClient,
    LearningLogError,
    Unavailable,
)

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


def _cycle() -> dict:
    d: dict = {}
    d["self"] = d
    return d


class ArgumentErrorsTest(unittest.TestCase):
    """ValueError, as the original raised, and nothing reaches the log."""

    BAD_CALLS = [
        ("log_event", ("", {})),
        ("log_event", (None, {})),
        ("log_event", (5, {})),
        ("log_event", ("t", None)),
        ("log_event", ("t", ["not", "a", "dict"])),
        ("log_event", ("t", {}, ["context", "not", "a", "dict"])),
        ("log_event", ("t", {"a": {"b": float("nan")}})),
        ("log_event", ("t", {"a": [float("inf")]})),
        ("log_event", ("t", {"a": -math.inf})),
        ("log_event", ("t", {"a": 2**60})),
        ("log_event", ("t", {"a": object()})),
        ("log_event", ("t", {"a": {1, 2}})),
        ("log_event", ("t", {(1, 2): "tuple key"})),
        ("log_event", ("t", _cycle())),
        ("log_event", ("t", {"a": "lone surrogate \ud800"})),
        ("log_variable_weight_change", (1, 1.0, 2.0)),
        ("log_variable_weight_change", ("v", "1.0", 2.0)),
        ("log_variable_weight_change", ("v", 1.0, True)),
        ("log_variable_weight_change", ("v", 1.0, None)),
        ("log_variable_weight_change", ("v", float("nan"), 2.0)),
        ("log_variable_weight_change", ("v", 1.0, float("inf"))),
        ("log_symbolic_upgrade", (["not", "a", "dict"],)),
        ("log_revision_trigger", (None,)),
        ("log_arc_regret", ([0.5],)),
        ("log_arc_regret", ({"arc": "high"},)),
        ("log_arc_regret", ({"arc": False},)),
        ("log_arc_regret", ({"arc": float("nan")},)),
        ("log_learning_summary", ("summary",)),
        ("log_rule_activation", (1, "v", "ok")),
        ("log_rule_activation", ("R1", "v", float("nan"))),
        ("log_rule_activation", ("R1", "v", "ok", 17)),
        ("log_rule_activation", ("R1", "v", "ok", None, "yes")),
        ("log_bayesian_trust_metrics", (None,)),
        ("log_bayesian_trust_metrics", ("k", 3)),
        ("log_rule_effectiveness", ("R1", 1.5, 0.5, 0.5)),
        ("log_rule_effectiveness", ("R1", True, 0.5, 0.5)),
        ("log_rule_effectiveness", ("R1", 2**63, 0.5, 0.5)),
        ("log_rule_effectiveness", ("R1", 3, float("nan"), 0.5)),
        ("log_rule_effectiveness", ("R1", 3, 0.5, "high")),
        ("generate_trust_report", (-1,)),
        ("generate_trust_report", ("5",)),
        ("export_trust_data", (None,)),
        ("import_trust_data", (3,)),
    ]

    def test_bad_arguments_raise_value_error_and_write_nothing(self) -> None:
        before = len(read_lines(server.log_path))
        # quiet must not hide argument errors either.
        for quiet in (False, True):
            with LearningLogClient(server.address, quiet=quiet) as client:
                for method, args in self.BAD_CALLS:
                    with self.subTest(method=method, args=args, quiet=quiet):
                        with self.assertRaises(ValueError):
                            getattr(client, method)(*args)
        self.assertEqual(len(read_lines(server.log_path)), before)

    def test_the_weight_change_message_is_the_originals(self) -> None:
        with LearningLogClient(server.address) as client:
            with self.assertRaisesRegex(ValueError, r"^Invalid types for variable weight change log\."):
                client.log_variable_weight_change("v", "x", 1.0)

    def test_value_errors_name_the_path(self) -> None:
        with LearningLogClient(server.address) as client:
            with self.assertRaisesRegex(ValueError, r"data\.scores\[1\]\.x: nan is not a finite number"):
                client.log_event("t", {"scores": [1, {"x": float("nan")}]})

    def test_trust_tracker_arguments(self) -> None:
        with LearningLogClient(server.address) as client:
            for call in (
                lambda: client.trust.update(1, True),
                lambda: client.trust.update("k", True, float("nan")),
                lambda: client.trust.update("k", True, "1"),
                lambda: client.trust.batch_update([("k",)]),
                lambda: client.trust.batch_update("k"),
                lambda: client.trust.batch_update({"k": [True]}),
                lambda: client.trust.get_confidence_interval("k", z=float("inf")),
                lambda: client.trust.apply_decay("k", decay_factor="0.9"),
                lambda: client.trust.generate_report(min_samples=1.5),
            ):
                with self.assertRaises(ValueError):
                    call()

    def test_bad_options(self) -> None:
        for kwargs in ({"timeout": 0}, {"timeout": "1"}, {"token": "has space"}, {"token": ""}, {"credentials": "tls"}, {"retry_attempts": 0}):
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(ValueError):
                    LearningLogClient(server.address, **kwargs)


class ServerRefusalsTest(unittest.TestCase):
    """The server's INVALID_ARGUMENT arrives as InvalidArgument (also a ValueError)."""

    def test_invalid_argument_is_typed_and_names_the_field(self) -> None:
        before = len(read_lines(server.log_path))
        with LearningLogClient(server.address) as client:
            for event_type in ("line\nbreak", "x" * 129):
                with self.assertRaises(InvalidArgument) as caught:
                    client.log_event(event_type, {"a": 1})
                err = caught.exception
                self.assertIsInstance(err, LearningLogError)
                self.assertIsInstance(err, ValueError)
                self.assertEqual(err.code, grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(err.details.startswith("event_type:"), err.details)
                self.assertFalse(err.retryable)
            with self.assertRaises(InvalidArgument) as caught:
                client.log_revision_trigger("r", event_id="not-a-uuid")
            self.assertTrue(caught.exception.details.startswith("event_id:"), caught.exception.details)
        self.assertEqual(len(read_lines(server.log_path)), before, "a rejected event leaves no line")


class TransportFailuresTest(unittest.TestCase):
    def test_unavailable_after_the_retries(self) -> None:
        with LearningLogClient(f"127.0.0.1:{free_port()}", retry_attempts=3) as client:
            started = time.monotonic()
            with self.assertRaises(Unavailable) as caught:
                client.log_revision_trigger("nobody listens")
            self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)
            self.assertTrue(caught.exception.retryable)
            self.assertTrue(caught.exception.details)
            # Two waits between three attempts: at least half of 0.05 + 0.1 s.
            self.assertGreaterEqual(time.monotonic() - started, 0.07)

    def test_deadline_exceeded(self) -> None:
        fake = FakeServer(unary_delay_s=2.0)
        try:
            with LearningLogClient(fake.address, timeout=0.2, retry_attempts=2) as client:
                with self.assertRaises(DeadlineExceeded) as caught:
                    client.log_event("slow", {})
            self.assertEqual(caught.exception.code, grpc.StatusCode.DEADLINE_EXCEEDED)
            # The timeout bounds the whole call: the first attempt used it
            # all, so there was no time for a second one.
            self.assertEqual(len(fake.logged), 1, "not retried past the call's deadline")
        finally:
            fake.stop()

    def test_quiet_client_prints_and_continues(self) -> None:
        with LearningLogClient(f"127.0.0.1:{free_port()}", quiet=True, retry_attempts=1) as client:
            out = io.StringIO()
            with contextlib.redirect_stdout(out), self.assertLogs("pulse_learning_log", "ERROR") as logged:
                self.assertIsNone(client.log_event("t", {"a": 1}))
                self.assertIsNone(client.log_variable_weight_change("v", 1.0, 2.0))
                self.assertIsNone(client.generate_trust_report())
                self.assertIs(client.export_trust_data("x.json"), False)
                self.assertIs(client.import_trust_data("x.json"), False)
                self.assertIsNone(client.trust.update("k", True))
            self.assertEqual(out.getvalue(), "", "nothing printed: failures go through logging")
            lines = [r.getMessage() for r in logged.records]
            self.assertEqual(len(lines), 6)
            self.assertTrue(all("UNAVAILABLE" in line for line in lines), lines)
            self.assertTrue(lines[0].startswith("[LearningLog] Failed to log event: UNAVAILABLE"))
            # Reads have nothing to return: they raise even when quiet.
            with self.assertRaises(Unavailable):
                client.trust.get_trust("k")
            # The flag can be switched off again.
            client.quiet = False
            with self.assertRaises(Unavailable):
                client.log_event("t", {"a": 1})


class TokenAndTlsTest(unittest.TestCase):
    def test_token_is_sent_on_every_call(self) -> None:
        fake = FakeServer()
        try:
            with LearningLogClient(fake.address, token="s3cret-token") as client:
                client.log_event("t", {})
                client.trust.get_trust("k")
                with BatchWriter(client=client) as writer:
                    writer.log_event("t", {})
            with BatchWriter(fake.address, token="other-token") as writer:
                writer.log_event("t", {})
            methods = [m for m, _ in fake.calls]
            self.assertEqual(methods, ["LogEvent", "GetMetrics", "IngestEvents", "IngestEvents"])
            tokens = [md.get("authorization") for _, md in fake.calls]
            self.assertEqual(tokens, ["Bearer s3cret-token"] * 3 + ["Bearer other-token"])
        finally:
            fake.stop()

    def test_no_token_no_header(self) -> None:
        fake = FakeServer()
        try:
            with LearningLogClient(fake.address) as client:
                client.log_event("t", {})
            self.assertNotIn("authorization", fake.calls[0][1])
        finally:
            fake.stop()

    def test_tls_credentials(self) -> None:
        certs = TempDir()
        try:
            cert, key = self_signed_certificate(certs.path)
            fake = FakeServer(credentials=grpc.ssl_server_credentials([(key, cert)]))
            try:
                credentials = grpc.ssl_channel_credentials(root_certificates=cert)
                with LearningLogClient(fake.address, credentials=credentials, token="t0k") as client:
                    ack = client.log_event("over_tls", {})
                self.assertEqual(ack.seq, 1)
                self.assertEqual(fake.calls[0][1].get("authorization"), "Bearer t0k")
                # A plaintext client cannot talk to it.
                with LearningLogClient(fake.address, retry_attempts=1, timeout=5) as plain:
                    with self.assertRaises(Unavailable):
                        plain.log_event("plaintext", {})
            finally:
                fake.stop()
        finally:
            certs.remove()


if __name__ == "__main__":
    unittest.main()
