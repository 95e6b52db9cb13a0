"""PulseLogHandler turns standard logging records with an ``event_type``
extra into learning events; the server's redactions are warned about once
per field path (sync client; the asyncio client in test_aio)."""

from __future__ import annotations

import logging
import math
import unittest
import uuid

from helpers import ServerProcess, TempDir, read_lines, records_by_id, start_server_in_temp_dir

import pulse_learning_log
from pulse_learning_log import BatchWriter, LearningLogClient, PulseLogHandler
from pulse_learning_log.diagnostics import forget_redactions

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    pulse_learning_log.configure()
    pulse_learning_log.close()
    server.stop()
    tmp.remove()


class PulseLogHandlerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.logger = logging.getLogger(f"pulse.test.{uuid.uuid4().hex}")
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def test_records_with_an_event_type_become_events(self) -> None:
        with LearningLogClient(server.address) as client:
            self.logger.addHandler(PulseLogHandler(client))
            ids = [str(uuid.uuid4()) for _ in range(3)]
            self.logger.info(
                "weight changed",
                extra={"event_type": "variable_weight_update", "data": {"variable": "hope", "from": 1.0, "to": 1.2}, "event_id": ids[0]},
            )
            self.logger.warning("drift %s", "high", extra={"event_type": "drift_detected", "context": {"run": "r1"}, "event_id": ids[1]})
            self.logger.info("not an event")  # no event_type: left alone
            before = len(read_lines(server.log_path))
            self.logger.info("still not one")
            self.assertEqual(len(read_lines(server.log_path)), before)
        by_id = records_by_id(server.log_path)
        first = by_id[ids[0]]
        self.assertEqual((first["event_type"], first["data"]), ("variable_weight_update", {"variable": "hope", "from": 1, "to": 1.2}))
        self.assertEqual(first["context"], {"logger": self.logger.name, "level": "INFO"})
        second = by_id[ids[1]]
        self.assertEqual((second["event_type"], second["data"]), ("drift_detected", {"message": "drift high"}))
        self.assertEqual(second["context"], {"logger": self.logger.name, "level": "WARNING", "run": "r1"})

    def test_the_default_sink_is_the_module_functions_in_either_mode(self) -> None:
        self.logger.addHandler(PulseLogHandler())
        for mode in ("durable", "background"):
            with self.subTest(mode=mode):
                pulse_learning_log.configure(server.address, mode=mode)
                event_id = str(uuid.uuid4())
                self.logger.error("boom", extra={"event_type": "training_failed", "event_id": event_id})
                pulse_learning_log.flush()
                self.assertEqual(records_by_id(server.log_path)[event_id]["data"], {"message": "boom"})
        pulse_learning_log.configure()

    def test_a_batch_writer_sink(self) -> None:
        with BatchWriter(server.address) as writer:
            self.logger.addHandler(PulseLogHandler(writer))
            event_id = str(uuid.uuid4())
            self.logger.info("buffered", extra={"event_type": "note", "event_id": event_id})
        self.assertIn(event_id, records_by_id(server.log_path))

    def test_a_record_that_cannot_be_logged_goes_to_handle_error(self) -> None:
        errors = []

        class Recording(PulseLogHandler):
            def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
                errors.append(record)

        with LearningLogClient(server.address) as client:
            self.logger.addHandler(Recording(client))
            self.logger.info("bad", extra={"event_type": "x", "data": {"v": math.nan}})  # does not raise
            self.logger.info("bad", extra={"event_type": "x", "context": "not a dict"})
        self.assertEqual(len(errors), 2)

    def test_the_clients_own_records_are_never_events(self) -> None:
        calls = []

        class Sink:
            def log_event(self, *args: object, **kwargs: object) -> None:
                calls.append(args)

        client_logger = logging.getLogger("pulse_learning_log")
        handler = PulseLogHandler(Sink())
        client_logger.addHandler(handler)
        try:
            client_logger.error("report", extra={"event_type": "loop?"})
        finally:
            client_logger.removeHandler(handler)
        self.assertEqual(calls, [])


class RedactionWarningTest(unittest.TestCase):
    def test_warned_once_per_field_path_never_with_the_value(self) -> None:
        forget_redactions()
        with LearningLogClient(server.address) as client:
            with self.assertLogs("pulse_learning_log", "WARNING") as logged:
                first = client.log_event("signup", {"email": "a@example.com", "user": {"password": "hunter2"}})
                client.log_event("signup", {"email": "b@example.com"})
                client.log_event("signup", {"note": "write to c@example.com"})
        assert first is not None
        self.assertEqual(sorted(first.redacted_fields), ["data.email", "data.user.password"])
        messages = [r.getMessage() for r in logged.records]
        self.assertEqual(sorted(m.split(" ")[3] for m in messages), ["data.email", "data.note", "data.user.password"])
        for secret in ("a@example.com", "hunter2", "c@example.com"):
            self.assertFalse(any(secret in m for m in messages), secret)


if __name__ == "__main__":
    unittest.main()
