"""Background mode of the module functions: calls buffer and return at once,
``flush()`` waits until everything is durable, the interpreter's exit flushes
within ``exit_timeout`` and reports what it could not, and every event that
is not written reaches the ``pulse_learning_log`` logger and ``on_error``.
A loss is never hidden: what was never sent and what was sent without an
answer are counted apart, the cause is named, and the process exits
non-zero (unless told not to)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import unittest
import uuid
from typing import Any, List

import grpc
from fake_server import FakeServer, never_answer
from helpers import ServerProcess, TempDir, read_records, records_by_id, start_server_in_temp_dir

import pulse_learning_log
from pulse_learning_log import BatchWriter, BufferFull, Rejection

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


def run_script(script: str, **env: str) -> "subprocess.CompletedProcess[str]":
    """Runs a Python script in a fresh interpreter (this one), with the test's
    module path and none of the client's environment variables but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_LEARNING_LOG_")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env={**clean, **env}, capture_output=True, text=True, timeout=120)


class ClosedPort:
    """A loopback port bound by nobody else and listened on by nobody: a
    connection to it is refused (the socket stays bound, unlistened, until closed)."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._socket.close()


class BackgroundModeTest(unittest.TestCase):
    def tearDown(self) -> None:
        pulse_learning_log.configure()

    def test_calls_return_none_at_once_and_flush_makes_them_durable(self) -> None:
        pulse_learning_log.configure(server.address, mode="background")
        ids = [str(uuid.uuid4()) for _ in range(2000)]
        for i, event_id in enumerate(ids):
            self.assertIsNone(pulse_learning_log.log_variable_weight_change("hope", float(i), i + 1.0, event_id=event_id))
        pulse_learning_log.log_rule_activation("R1", "hope", "ok", event_id=ids[0])  # a resend of an id: written once
        pulse_learning_log.flush(timeout=60)
        by_id = records_by_id(server.log_path)
        self.assertTrue(set(ids) <= set(by_id), "every event is in the log after flush")
        self.assertEqual(by_id[ids[7]]["data"], {"variable": "hope", "from": 7, "to": 8})
        self.assertEqual(sum(1 for r in read_records(server.log_path) if r["event_id"] == ids[0]), 1)

    def test_synchronous_calls_keep_the_log_in_call_order(self) -> None:
        pulse_learning_log.configure(server.address, mode="background")
        event_id = str(uuid.uuid4())
        pulse_learning_log.log_revision_trigger("buffered first", event_id=event_id)
        report = pulse_learning_log.generate_trust_report()
        self.assertIsNotNone(report)
        records = read_records(server.log_path)
        position = {r["event_id"]: i for i, r in enumerate(records)}
        report_position = max(i for i, r in enumerate(records) if r["event_type"] == "trust_report_generated")
        self.assertLess(position[event_id], report_position)

    def test_a_refused_event_is_logged_and_passed_to_on_error(self) -> None:
        refused: List[Rejection] = []
        pulse_learning_log.configure(server.address, mode="background", on_error=refused.append)
        with self.assertLogs("pulse_learning_log", "ERROR") as logged:
            self.assertIsNone(pulse_learning_log.log_event("line\nbreak", {"a": 1}))
            good = str(uuid.uuid4())
            pulse_learning_log.log_revision_trigger("fine", event_id=good)
            pulse_learning_log.flush(timeout=60)
        self.assertEqual(len(refused), 1)
        self.assertEqual(refused[0].code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("event_type", refused[0].message)
        self.assertTrue(any(refused[0].event_id in r.getMessage() for r in logged.records))
        self.assertIn(good, records_by_id(server.log_path))

    def test_a_full_buffer_raises_when_asked_to(self) -> None:
        fake = FakeServer(ingest=never_answer)
        try:
            pulse_learning_log.configure(fake.address, mode="background", on_full="raise", buffer_events_max=5, exit_timeout=0.1)
            for i in range(5):
                pulse_learning_log.log_revision_trigger(f"r{i}")
            with self.assertRaises(BufferFull):
                pulse_learning_log.log_revision_trigger("one too many")
            with self.assertRaises(TimeoutError):
                pulse_learning_log.flush(timeout=0.2)
        finally:
            # The silent server never answers: closing gives up after exit_timeout, and says so.
            with self.assertLogs("pulse_learning_log", "ERROR") as logged:
                pulse_learning_log.close()
            self.assertIn("not durable", logged.records[0].getMessage())
            fake.stop()

    def test_a_full_buffer_blocks_until_block_timeout(self) -> None:
        fake = FakeServer(ingest=never_answer)
        try:
            pulse_learning_log.configure(fake.address, mode="background", buffer_events_max=2, block_timeout=0.2, exit_timeout=0.1)
            pulse_learning_log.log_revision_trigger("a")
            pulse_learning_log.log_revision_trigger("b")
            with self.assertRaises(BufferFull):
                pulse_learning_log.log_revision_trigger("waits, then gives up")
        finally:
            # The silent server never answers: closing gives up after exit_timeout, and says so.
            with self.assertLogs("pulse_learning_log", "ERROR") as logged:
                pulse_learning_log.close()
            self.assertIn("not durable", logged.records[0].getMessage())
            fake.stop()

    def test_flush_in_durable_mode_returns_at_once(self) -> None:
        pulse_learning_log.configure(server.address, mode="durable")
        ack = pulse_learning_log.log_revision_trigger("durable")
        assert ack is not None
        pulse_learning_log.flush(timeout=0)
        self.assertIn(ack.event_id, records_by_id(server.log_path))

    def test_bad_modes(self) -> None:
        with self.assertRaises(ValueError):
            pulse_learning_log.configure(mode="sometimes")
        with self.assertRaises(ValueError):
            pulse_learning_log.configure(mode="background", on_full="drop")
        done = run_script("import pulse_learning_log; pulse_learning_log.log_revision_trigger('x')", PULSE_LEARNING_LOG_MODE="fast")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("PULSE_LEARNING_LOG_MODE must be durable or background", done.stderr)


class ExitTest(unittest.TestCase):
    """What happens at the interpreter's exit, in a child interpreter."""

    def test_the_environment_switches_to_background_and_exit_flushes_everything(self) -> None:
        script = """
            import uuid, pulse_learning_log
            ids = [str(uuid.uuid4()) for _ in range(3000)]
            for i, event_id in enumerate(ids):
                assert pulse_learning_log.log_variable_weight_change("v", 0.0, float(i), event_id=event_id) is None
            print(ids[0], ids[-1])
            # no flush: the exit hook makes them durable
        """
        done = run_script(script, PULSE_LEARNING_LOG_ADDR=server.address, PULSE_LEARNING_LOG_MODE="background")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stderr, "", "nothing to report")
        first, last = done.stdout.split()
        by_id = records_by_id(server.log_path)
        self.assertIn(first, by_id)
        self.assertIn(last, by_id)

    def test_exit_gives_up_after_exit_timeout_and_reports_what_was_not_durable(self) -> None:
        fake = FakeServer(ingest=never_answer)
        try:
            script = f"""
                import pulse_learning_log
                def report(rejection):
                    print("not durable:", rejection.event_id, rejection.code.name, flush=True)
                pulse_learning_log.configure({fake.address!r}, mode="background", exit_timeout=0.5, on_error=report)
                ids = [pulse_learning_log.log_revision_trigger("lost?", event_id=i) for i in
                       ("8a1b7e4c-63a5-4f7e-9d4a-000000000001", "8a1b7e4c-63a5-4f7e-9d4a-000000000002")]
            """
            done = run_script(script)
            self.assertEqual(done.returncode, 1, "events given up: the exit status says so\n" + done.stderr)
            self.assertEqual(
                done.stdout.splitlines(),
                [
                    "not durable: 8a1b7e4c-63a5-4f7e-9d4a-000000000001 CANCELLED",
                    "not durable: 8a1b7e4c-63a5-4f7e-9d4a-000000000002 CANCELLED",
                ],
            )
            # The server took the batch and never answered: sent, not "never sent".
            self.assertIn("gave up 2 events still not durable 0.5 s into the interpreter's exit: 0 never sent (not in the log), 2 sent without an answer", done.stderr)
            self.assertIn("8a1b7e4c-63a5-4f7e-9d4a-000000000001", done.stderr)
        finally:
            fake.stop()

    # A trainer in background mode whose server is not there: 222 events.
    UNREACHED = """
        import pulse_learning_log
        def report(rejection):
            print("on_error:", rejection.code.name, rejection.message, flush=True)
        pulse_learning_log.configure(exit_timeout=1, on_error=report, **{extra})
        for i in range(222):
            pulse_learning_log.log_variable_weight_change("v", 0.0, float(i))
    """

    def run_unreached(self, extra: str = "", **env: str) -> "subprocess.CompletedProcess[str]":
        port = ClosedPort()
        self.addCleanup(port.close)
        self.address = port.address
        return run_script(self.UNREACHED.format(extra=extra or "{}"), PULSE_LEARNING_LOG_ADDR=port.address, PULSE_LEARNING_LOG_MODE="background", **env)

    def test_a_server_never_reached_is_named_counted_and_fails_the_exit_status(self) -> None:
        done = self.run_unreached()
        self.assertEqual(done.returncode, 1, done.stderr)
        cause = f"UNAVAILABLE: connection refused at {self.address}"
        # Said when the exit gives up: the cause and the counts.
        self.assertIn(f"gave up 222 events still not durable 1 s into the interpreter's exit: 222 never sent (not in the log), 0 sent without an answer", done.stderr)
        self.assertIn(f"cause: the server at {self.address} was never reached: {cause}", done.stderr)
        self.assertIn("222 events were given up in this process: 222 never sent (not in the log), 0 sent without an answer", done.stderr)
        self.assertIn("exiting with status 1", done.stderr)
        self.assertNotIn("BatchWriter aborted", done.stderr)
        # on_error hears of each, with the same words.
        self.assertEqual(done.stdout.splitlines(), [f"on_error: UNAVAILABLE never sent: the server at {self.address} was never reached: {cause}"] * 222)

    def test_the_exit_status_on_loss_can_be_turned_off_or_chosen(self) -> None:
        off = self.run_unreached(PULSE_LEARNING_LOG_EXIT_ON_LOSS="0")
        self.assertEqual(off.returncode, 0, off.stderr)
        self.assertIn("222 never sent", off.stderr, "still reported")
        self.assertIn("the exit status is the interpreter's", off.stderr)
        chosen = self.run_unreached(extra="{'exit_on_loss': 75}")
        self.assertEqual(chosen.returncode, 75, chosen.stderr)
        configured_off = self.run_unreached(extra="{'exit_on_loss': False}", PULSE_LEARNING_LOG_EXIT_ON_LOSS="1")
        self.assertEqual(configured_off.returncode, 0, "configure() is over the environment\n" + configured_off.stderr)
        bad = self.run_unreached(PULSE_LEARNING_LOG_EXIT_ON_LOSS="sometimes")
        self.assertEqual(bad.returncode, 1, bad.stderr)
        self.assertIn("PULSE_LEARNING_LOG_EXIT_ON_LOSS must be", bad.stderr)

    def test_nothing_lost_exits_as_the_script_says(self) -> None:
        done = run_script(
            "import sys, pulse_learning_log; pulse_learning_log.log_revision_trigger('fine'); sys.exit(3)",
            PULSE_LEARNING_LOG_ADDR=server.address,
            PULSE_LEARNING_LOG_MODE="background",
        )
        self.assertEqual((done.returncode, done.stderr), (3, ""))


class LossAccountingTest(unittest.TestCase):
    def test_sent_without_an_answer_and_never_sent_are_told_apart(self) -> None:
        received = threading.Event()

        def read_and_never_answer(requests: Any, context: grpc.ServicerContext, stream: int) -> Any:
            for _ in requests:
                received.set()
            return
            yield  # a generator that never yields

        fake = FakeServer(ingest=read_and_never_answer)
        dropped: List[Rejection] = []
        writer = BatchWriter(fake.address, on_dropped=dropped.append)
        try:
            sent = writer.log_revision_trigger("the server took it and never answered")
            self.assertTrue(received.wait(60), "the server read the batch")
        finally:
            fake.stop()  # the port is closed from now on
        # Until the writer has seen its stream fail and a new one refused, an
        # event logged now could go out on the old connection (sent, unanswered).
        deadline = time.monotonic() + 60
        while True:
            with self.assertRaises(TimeoutError) as waited:
                writer.flush(timeout=0.2)
            if "the server cannot be reached now (UNAVAILABLE: connection refused" in str(waited.exception) or time.monotonic() > deadline:
                break
        self.assertIn(f"1 events still not durable after 0.2 s; the server cannot be reached now (UNAVAILABLE: connection refused at {fake.address}), retrying", str(waited.exception))
        never = writer.log_revision_trigger("logged after the server went away")
        with self.assertLogs("pulse_learning_log", "ERROR") as logged:
            writer.close_or_abort(timeout=0.5)
        self.assertEqual({r.event_id: r.message.split(":")[0] for r in dropped}, {sent: "sent without an answer", never: "never sent"})
        given_up = [r.getMessage() for r in logged.records if "gave up" in r.getMessage()]
        self.assertEqual(len(given_up), 1, logged.output)
        self.assertIn("gave up 2 events still not durable 0.5 s into close_or_abort(): 1 never sent (not in the log), 1 sent without an answer", given_up[0])
        # Reached once, refused now: not "never reached".
        self.assertIn(f"cause: the server at {fake.address} cannot be reached now: UNAVAILABLE: connection refused at {fake.address}", given_up[0])
        self.assertEqual(writer.stats()["dropped"], 2)


class FlushCauseTest(unittest.TestCase):
    def tearDown(self) -> None:
        pulse_learning_log.configure()

    def test_a_flush_timeout_names_the_cause(self) -> None:
        port = ClosedPort()
        self.addCleanup(port.close)
        pulse_learning_log.configure(port.address, mode="background", exit_timeout=0.1)
        pulse_learning_log.log_revision_trigger("not sent")
        with self.assertRaises(TimeoutError) as caught:
            pulse_learning_log.flush(timeout=1)
        self.assertIn(f"1 events still not durable after 1 s; the server was never reached (UNAVAILABLE: connection refused at {port.address}), retrying", str(caught.exception))
        self.assertIsInstance(caught.exception.__cause__, pulse_learning_log.Unavailable)

    def test_bad_exit_on_loss_settings_are_refused(self) -> None:
        for value in (-1, 256, "sometimes", 1.5):
            with self.subTest(value=value), self.assertRaises(ValueError):
                pulse_learning_log.configure(exit_on_loss=value)  # type: ignore[arg-type]


if __name__ == "__main__":
    unittest.main()
