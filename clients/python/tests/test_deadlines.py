"""One deadline per call: ``timeout`` bounds the whole call, every attempt
and every wait between them included, and what cannot succeed is never
retried (INVALID_ARGUMENT, PERMISSION_DENIED, a message over the size limit).

Servers that accept calls and never answer are the in-process fake; the
attempts a call made are counted on the server's side (no wall-clock
assertions)."""

from __future__ import annotations

import unittest
from typing import List
from unittest import mock

import grpc
from fake_server import FakeServer, never_answer
from helpers import ServerProcess, TempDir, read_lines, start_server_in_temp_dir

from pulse_learning_log import DeadlineExceeded, InvalidArgument, LearningLogClient, PermissionDenied, ResourceExhausted, Unavailable
from pulse_learning_log.connection import Connection, Deadline
from pulse_learning_log.errors import is_retryable

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


class SilentServerTest(unittest.TestCase):
    """A server that accepts the connection and never answers."""

    def test_a_unary_call_fails_within_its_one_deadline(self) -> None:
        fake = FakeServer(unary_hangs=True)
        try:
            with LearningLogClient(fake.address, timeout=0.5, retry_attempts=4) as client:
                with self.assertRaises(DeadlineExceeded) as caught:
                    client.log_event("silence", {})
            self.assertEqual(caught.exception.code, grpc.StatusCode.DEADLINE_EXCEEDED)
            # Per-attempt timeouts would have made 4 attempts of 0.5 s each.
            self.assertEqual(len(fake.logged), 1, "one attempt: it used the whole deadline")
        finally:
            fake.stop()

    def test_a_stream_call_fails_within_its_one_deadline(self) -> None:
        fake = FakeServer(ingest=never_answer)
        try:
            with LearningLogClient(fake.address, timeout=0.5, retry_attempts=4, stream=True) as client:
                with self.assertRaises(DeadlineExceeded):
                    client.log_revision_trigger("silence")
            self.assertEqual(len(fake.ingested), 1, "sent once: no time was left for a resend")
            self.assertEqual(fake.streams, 1)
        finally:
            fake.stop()

    def test_the_default_timeout_is_ten_seconds(self) -> None:
        with LearningLogClient(server.address) as client:
            self.assertEqual(client.connection.timeout, 10.0)


class NoRetryOfWhatCannotSucceedTest(unittest.TestCase):
    def count_backoffs(self) -> "mock._patch[mock.MagicMock]":
        return mock.patch.object(Connection, "backoff", autospec=True, return_value=0.0)

    def test_invalid_argument_and_permission_denied_are_not_retried(self) -> None:
        for code, error in ((grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument), (grpc.StatusCode.PERMISSION_DENIED, PermissionDenied)):
            with self.subTest(code=code.name):
                fake = FakeServer(unary_status=code)
                try:
                    with LearningLogClient(fake.address, retry_attempts=4) as client:
                        with self.assertRaises(error):
                            client.log_event("refused", {})
                    self.assertEqual(len(fake.logged), 1, "sent once")
                finally:
                    fake.stop()

    def test_unavailable_is_retried_with_the_same_event_id(self) -> None:
        fake = FakeServer(unary_status=grpc.StatusCode.UNAVAILABLE)
        try:
            with self.count_backoffs(), LearningLogClient(fake.address, retry_attempts=3) as client:
                with self.assertRaises(Unavailable):
                    client.log_event("down", {})
            self.assertEqual(len(fake.logged), 3)
            self.assertEqual(len(set(fake.logged)), 1)
        finally:
            fake.stop()

    def test_a_message_over_the_size_limit_is_not_retried(self) -> None:
        before = len(read_lines(server.log_path))
        big = {"blob": "x" * (5 * 1024 * 1024)}
        for stream in (False, True):
            with self.subTest(stream=stream), self.count_backoffs() as backoff:
                with LearningLogClient(server.address, stream=stream) as client:
                    with self.assertRaises(ResourceExhausted) as caught:
                        client.log_event("too_big", big)
                self.assertIn("larger than max", caught.exception.details)
                self.assertFalse(caught.exception.retryable)
                backoff.assert_not_called()
        self.assertEqual(len(read_lines(server.log_path)), before)

    def test_retryable_statuses(self) -> None:
        self.assertTrue(is_retryable(grpc.StatusCode.UNAVAILABLE))
        self.assertTrue(is_retryable(grpc.StatusCode.DEADLINE_EXCEEDED))
        self.assertTrue(is_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, "write queue full"))
        self.assertFalse(is_retryable(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5 vs. 4)"))
        for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL):
            self.assertFalse(is_retryable(code), code)


class RetryLoopTest(unittest.TestCase):
    """Connection.retrying, with attempts that fail on demand (no server)."""

    def test_out_of_time_before_the_next_attempt(self) -> None:
        connection = Connection("127.0.0.1:1", retry_attempts=10)
        attempts: List[float] = []

        def attempt(left: "float | None") -> None:
            assert left is not None
            attempts.append(left)
            raise Unavailable("down")

        try:
            # The backoff (patched to 1 s) never fits in a 0.2 s deadline.
            with mock.patch.object(Connection, "backoff", return_value=1.0):
                with self.assertRaises(DeadlineExceeded) as caught:
                    connection.retrying(attempt, Deadline(0.2), idempotent=True)
            self.assertEqual(len(attempts), 1)
            self.assertIn("UNAVAILABLE", str(caught.exception))
            self.assertLessEqual(attempts[0], 0.2)
        finally:
            connection.close()

    def test_each_attempt_gets_what_is_left(self) -> None:
        connection = Connection("127.0.0.1:1", retry_attempts=3)
        lefts: List[float] = []

        def attempt(left: "float | None") -> str:
            assert left is not None
            lefts.append(left)
            if len(lefts) < 3:
                raise Unavailable("down")
            return "ok"

        try:
            with mock.patch.object(Connection, "backoff", return_value=0.0):
                self.assertEqual(connection.retrying(attempt, Deadline(30), idempotent=True), "ok")
            self.assertEqual(len(lefts), 3)
            self.assertTrue(lefts[0] >= lefts[1] >= lefts[2], lefts)
        finally:
            connection.close()

    def test_not_idempotent_is_not_retried(self) -> None:
        connection = Connection("127.0.0.1:1", retry_attempts=3)
        calls: List[int] = []

        def attempt(left: "float | None") -> None:
            calls.append(1)
            raise Unavailable("down")

        try:
            with self.assertRaises(Unavailable):
                connection.retrying(attempt, Deadline(30), idempotent=False)
            self.assertEqual(len(calls), 1)
        finally:
            connection.close()


if __name__ == "__main__":
    unittest.main()
