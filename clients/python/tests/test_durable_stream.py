"""Durable calls over one shared IngestEvents stream (``LearningLogClient(stream=True)``,
the module functions' default client): each call returns once its own event
is durable, calls from many threads share the stream, a broken stream is
resent on a new one exactly once, and a forked child gets its own stream."""

from __future__ import annotations

import os
import threading
import traceback
import unittest
import uuid
from collections import Counter
from typing import Any, Dict, List

import grpc
from fake_server import FakeServer, answer_all, break_first_stream
from helpers import ServerProcess, TempDir, UUID4, original_record, read_lines, records_by_id, start_server_in_temp_dir

import pulse_learning_log
from pulse_learning_log import FieldViolation, InvalidArgument, LearningLogClient
from pulse_learning_log.diagnostics import forget_redactions
from pulse_learning_log.durable_stream import DurableStream

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    pulse_learning_log.close()
    server.stop()
    tmp.remove()


class SharedStreamTest(unittest.TestCase):
    def test_each_call_returns_its_own_durable_record(self) -> None:
        with LearningLogClient(server.address, stream=True) as client:
            acks = [client.log_variable_weight_change("hope", float(i), i + 0.5) for i in range(20)]
            by_id = records_by_id(server.log_path)  # read after the calls returned: durable by then
            for i, ack in enumerate(acks):
                assert ack is not None
                record = by_id[ack.event_id]
                self.assertEqual(record["seq"], ack.seq)
                self.assertEqual(record["data"], {"variable": "hope", "from": i, "to": i + 0.5})
                self.assertRegex(ack.event_id, UUID4)
                self.assertEqual(ack.timestamp, record["timestamp"])
                self.assertFalse(ack.duplicate)
            self.assertEqual([a.seq for a in acks], sorted(a.seq for a in acks))

    def test_redacted_fields_come_back_and_are_warned_about_once_per_path(self) -> None:
        forget_redactions()
        with LearningLogClient(server.address, stream=True) as client:
            with self.assertLogs("pulse_learning_log", "WARNING") as logged:
                first = client.log_event("contact", {"email": "someone@example.com", "note": "fine"})
                again = client.log_event("contact", {"email": "other@example.com"})
                plain = client.log_revision_trigger("nothing personal")
        assert first is not None and again is not None and plain is not None
        self.assertEqual(first.redacted_fields, ("data.email",))
        self.assertEqual(again.redacted_fields, ("data.email",))
        self.assertEqual(plain.redacted_fields, ())
        self.assertEqual(records_by_id(server.log_path)[first.event_id]["data"], {"email": "[REDACTED]", "note": "fine"})
        warnings = [r.getMessage() for r in logged.records if r.levelname == "WARNING"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("data.email", warnings[0])
        self.assertIn("contact", warnings[0])
        self.assertNotIn("someone@example.com", warnings[0], "the value is never logged")

    def test_the_warning_names_what_the_guard_matched_and_the_rule(self) -> None:
        for stream in (True, False):
            forget_redactions()
            with LearningLogClient(server.address, stream=stream) as client:
                with self.assertLogs("pulse_learning_log", "WARNING") as logged:
                    ack = client.log_event("contact", {"api_key": "k-1", "note": "write to someone@example.com", "token_count": 1024})
            assert ack is not None
            self.assertEqual(sorted(ack.redacted_fields), ["data.api_key", "data.note"])
            warnings = {w.split(" of a ")[0]: w for w in (r.getMessage() for r in logged.records if r.levelname == "WARNING")}
            self.assertEqual(len(warnings), 2, warnings)
            self.assertRegex(warnings["the server redacted data.api_key"], r'matched the key: the key "api_key" ends with a sensitive term')
            self.assertRegex(warnings["the server redacted data.note"], r"matched the value: the value held an e-mail address")
            self.assertNotIn("someone@example.com", " ".join(warnings.values()))

    def test_module_functions_warn_about_redactions_in_the_default_mode(self) -> None:
        forget_redactions()
        pulse_learning_log.configure(server.address)
        with self.assertLogs("pulse_learning_log", "WARNING") as logged:
            pulse_learning_log.log_learning_summary({"reviewer_email": "someone@example.com"})
        warnings = [r.getMessage() for r in logged.records if r.levelname == "WARNING"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("reviewer_email", warnings[0])

    def test_every_event_of_the_table_goes_over_the_stream(self) -> None:
        calls = [
            ("log_event", ("custom", {"k": [1, 2]}, {"ctx": "c"})),
            ("log_symbolic_upgrade", ({"hope": "+0.1"},)),
            ("log_revision_trigger", ("fragmentation > threshold",)),
            ("log_arc_regret", ({"arc_hope": 0.04},)),
            ("log_learning_summary", ({"summary": "s"},)),
            ("log_rule_activation", ("R001", "hope", "success", "F1", True)),
        ]
        with LearningLogClient(server.address, stream=True) as client:
            for name, args in calls:
                with self.subTest(name=name):
                    ack = getattr(client, name)(*args)
                    record = records_by_id(server.log_path)[ack.event_id]
                    expected = original_record(name, *args)
                    self.assertEqual(record["event_type"], expected["event_type"])
                    self.assertEqual(record["data"], expected["data"])

    def test_one_stream_for_all_calls_and_threads(self) -> None:
        fake = FakeServer()
        try:
            acks: List[Any] = []
            lock = threading.Lock()
            with LearningLogClient(fake.address, stream=True) as client:

                def work() -> None:
                    for i in range(25):
                        ack = client.log_revision_trigger(f"r{i}")
                        with lock:
                            acks.append(ack)

                threads = [threading.Thread(target=work) for _ in range(8)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            self.assertEqual(len(acks), 200)
            self.assertEqual(fake.streams, 1, "one stream for every call")
            self.assertEqual([m for m, _ in fake.calls], ["IngestEvents"], "no unary call")
            self.assertEqual(sorted(fake.ingested), sorted(a.event_id for a in acks))
        finally:
            fake.stop()

    def test_threads_on_the_real_server_each_get_their_own_seq(self) -> None:
        results: Dict[str, int] = {}
        lock = threading.Lock()
        with LearningLogClient(server.address, stream=True) as client:

            def work(n: int) -> None:
                for i in range(30):
                    ack = client.log_rule_activation(f"R{n}", "v", i)
                    assert ack is not None
                    with lock:
                        results[ack.event_id] = ack.seq

            threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        by_id = records_by_id(server.log_path)
        self.assertEqual(len(results), 180)
        self.assertEqual({i: by_id[i]["seq"] for i in results}, results)

    def test_a_refused_event_raises_like_the_unary_call_and_writes_nothing(self) -> None:
        before = len(read_lines(server.log_path))
        with LearningLogClient(server.address, stream=True) as client:
            with self.assertRaises(InvalidArgument) as caught:
                client.log_event("line\nbreak", {"a": 1})
            self.assertTrue(caught.exception.details.startswith("event_type: "), caught.exception.details)
            self.assertEqual(caught.exception.field_violations[0].field, "event_type")
            self.assertIsInstance(caught.exception.field_violations[0], FieldViolation)
            with self.assertRaises(InvalidArgument) as caught:
                client.log_revision_trigger("r", event_id="not-a-uuid")
            self.assertTrue(caught.exception.details.startswith("event_id:"), caught.exception.details)
            # The stream is still good for the next call.
            self.assertIsNotNone(client.log_revision_trigger("after a refusal"))
        self.assertEqual(len(read_lines(server.log_path)), before + 1)

    def test_a_retry_with_the_same_event_id_is_a_duplicate(self) -> None:
        with LearningLogClient(server.address, stream=True) as client:
            first = client.log_revision_trigger("once")
            assert first is not None
            again = client.log_revision_trigger("once", event_id=first.event_id)
            assert again is not None
        self.assertTrue(again.duplicate)
        self.assertEqual(again.seq, first.seq)
        self.assertEqual(Counter(r["event_id"] for r in records_by_id(server.log_path).values())[first.event_id], 1)

    def test_a_broken_stream_is_resent_on_a_new_one_with_the_same_event_id(self) -> None:
        fake = FakeServer(ingest=break_first_stream(grpc.StatusCode.UNAVAILABLE))
        try:
            with LearningLogClient(fake.address, stream=True) as client:
                ack = client.log_revision_trigger("resend me")
            assert ack is not None
            self.assertEqual(fake.streams, 2)
            self.assertEqual(fake.ingested, [ack.event_id, ack.event_id])
        finally:
            fake.stop()

    def test_an_idle_stream_ends_and_the_next_call_opens_another(self) -> None:
        ended = threading.Event()

        def answer_then_report_end(requests: Any, context: grpc.ServicerContext, stream: int) -> Any:
            yield from answer_all(requests, context, stream)
            ended.set()  # the client half-closed

        fake = FakeServer(ingest=answer_then_report_end)
        client = LearningLogClient(fake.address)
        stream = DurableStream(client.connection, idle_timeout=0.1)
        try:
            from pulse_learning_log.events import CATALOG

            stream.log(CATALOG["log_revision_trigger"], ("first",), None)
            self.assertTrue(ended.wait(30), "the idle stream ended")
            stream.log(CATALOG["log_revision_trigger"], ("second",), None)
            self.assertEqual(fake.streams, 2)
        finally:
            stream.close()
            client.close()
            fake.stop()


class ForkTest(unittest.TestCase):
    def test_a_forked_child_logs_on_its_own_stream(self) -> None:
        self.fork_and_log("durable")

    def test_a_forked_child_logs_on_its_own_stream_in_background_mode(self) -> None:
        self.fork_and_log("background")

    def fork_and_log(self, mode: str) -> None:
        """The parent logs, forks, the child logs through the module
        functions and exits, the parent logs again: every event is in the log."""
        pulse_learning_log.configure(server.address, mode=mode)
        try:
            parent_id = str(uuid.uuid4())
            pulse_learning_log.log_revision_trigger("parent, before the fork", event_id=parent_id)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: log through the module functions, report the event_id
                code = 1
                try:
                    os.close(read_end)
                    child_id = str(uuid.uuid4())
                    pulse_learning_log.log_revision_trigger("child", event_id=child_id)
                    pulse_learning_log.flush()
                    os.write(write_end, child_id.encode())
                    code = 0
                except BaseException:
                    traceback.print_exc()  # the test's output shows why the child failed
                finally:
                    os._exit(code)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                child_event_id = pipe.read().decode()
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            after_id = str(uuid.uuid4())
            pulse_learning_log.log_revision_trigger("parent, after the fork", event_id=after_id)
            pulse_learning_log.flush()
            by_id = records_by_id(server.log_path)
            self.assertEqual(by_id[child_event_id]["data"], {"reason": "child"})
            self.assertIn(parent_id, by_id)
            self.assertIn(after_id, by_id)
        finally:
            pulse_learning_log.configure()


if __name__ == "__main__":
    unittest.main()
