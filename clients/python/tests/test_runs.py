"""Runs on the wire (issue 22), against the scriptable fake server: the run
named by the environment, by ``configure(run=...)`` or by a ``run`` block
goes on every event the process logs, on every surface (``LearningEvent.run``
on streamed events, ``pulse-run`` metadata on unary and trust calls); the run
is held open with HoldRun while it is logged into; a process that names no
run sends nothing new. The records the real server writes are checked in
test_runs_server.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import textwrap
import threading
import unittest
import uuid
from typing import Any, ContextManager, Dict, List, Optional

import grpc
from fake_server import FakeServer

import pulse_learning_log
import pulse_learning_log.aio as aio
from pulse_learning_log import BatchWriter, LearningLogClient, PulseLogHandler

RUN_ENV = "PULSE_LEARNING_LOG_RUN"
PATH_ENV = "PULSE_LEARNING_LOG_PATH"


def run_script(script: str, **env: str) -> "subprocess.CompletedProcess[str]":
    """Runs a Python script in a fresh interpreter (this one), with the test's
    module path and no PULSE_LEARNING_LOG_* variable but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_LEARNING_LOG_")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env={**clean, **env}, capture_output=True, text=True, timeout=120)


def new_id() -> str:
    return str(uuid.uuid4())


class RunTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.saved_env = {k: os.environ.pop(k) for k in (RUN_ENV, PATH_ENV) if k in os.environ}

    def tearDown(self) -> None:
        os.environ.update(self.saved_env)
        for k in (RUN_ENV, PATH_ENV):
            if k not in self.saved_env:
                os.environ.pop(k, None)
        pulse_learning_log.configure()
        self.fake.stop()

    def assert_runs(self, event_ids: List[str], run: Optional[str]) -> None:
        """Each of these events reached the fake naming ``run`` (None: no run field)."""
        self.assertTrue(self.fake.wait_for(lambda: len(self.fake.runs_of(event_ids)) == len(set(event_ids))), "not every event arrived")
        self.assertEqual(self.fake.runs_of(event_ids), {e: run for e in event_ids})

    def generic_events(self, event_type: str) -> List[Any]:
        with self.fake.changed:
            return [e for e in self.fake.ingested_events if e.WhichOneof("event") == "generic" and e.generic.event_type == event_type]


class EverySurfaceTest(RunTestCase):
    """Each way of naming the run puts it on every surface."""

    def naming(self, how: str, run: str, **options: Any) -> ContextManager[Any]:
        """Names ``run`` the ``how`` way (environment, configure, block) with
        these configure() options; the run is in force inside the returned block."""
        if how == "environment":
            os.environ[RUN_ENV] = run
            pulse_learning_log.configure(self.fake.address, **options)  # re-reads the environment
            return contextlib.nullcontext()
        if how == "configure":
            pulse_learning_log.configure(self.fake.address, run=run, **options)
            return contextlib.nullcontext()
        pulse_learning_log.configure(self.fake.address, **options)
        return pulse_learning_log.run(run)

    def check_every_surface(self, how: str) -> None:
        fake, run = self.fake, f"exp-{how}"
        with self.naming(how, run):
            # Module functions: the shared durable stream.
            streamed = [pulse_learning_log.log_variable_weight_change("hope", 0.1, 0.2).event_id, pulse_learning_log.log_event("step", {"n": 1}).event_id]
            # PulseLogHandler with its default sink (the module functions).
            handler_logger = logging.getLogger("test_runs.handler")
            handler = PulseLogHandler()
            handler_logger.addHandler(handler)
            try:
                handled = new_id()
                handler_logger.warning("from logging", extra={"event_type": "handled", "event_id": handled})
            finally:
                handler_logger.removeHandler(handler)
            streamed.append(handled)
            # A client of one's own, streaming.
            with LearningLogClient(fake.address, stream=True) as client:
                streamed.append(client.log_revision_trigger("drift").event_id)
            # The sync BatchWriter.
            with BatchWriter(fake.address) as writer:
                streamed.append(writer.log_arc_regret({"a": 0.5}))
            # Unary calls: the run is the call's metadata.
            with LearningLogClient(fake.address) as client:
                client.log_event("unary", {})
                client.trust.get_trust("hope")
            pulse_learning_log.bayesian_trust_tracker.get_trust("faith")
            # The run is held open on the server while it is in force.
            self.assertTrue(fake.wait_for(lambda: fake.holds_open.get(run, 0) > 0), f"no HoldRun call for {run}")
        self.assert_runs(streamed, run)
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("LogEvent")], [run])
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("GetMetrics")], [run, run])

        # Background mode: the writer of the module functions.
        with self.naming(how, run, mode="background"):
            background = [new_id(), new_id()]
            pulse_learning_log.log_learning_summary({"loss": 0.3}, event_id=background[0])
            pulse_learning_log.log_event("step", {"n": 2}, event_id=background[1])
            pulse_learning_log.flush()
        self.assert_runs(background, run)
        self.assertEqual(set(fake.holds), {run})

        # asyncio: the client (unary calls, its tracker) and the writer.
        async def main() -> List[str]:
            async with aio.LearningLogClient(fake.address) as client:
                await client.log_event("unary", {})
                await client.trust.get_stats("hope")
            async with aio.BatchWriter(fake.address) as writer:
                ids = [await writer.log_event("step", {"n": n}) for n in range(3)]
                await writer.flush()
            return ids

        with self.naming(how, run):
            streamed = asyncio.run(main())
        self.assert_runs(streamed, run)
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("LogEvent")], [run, run])
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("GetMetrics")], [run, run, run])

    def test_the_environment(self) -> None:
        self.check_every_surface("environment")

    def test_configure(self) -> None:
        self.check_every_surface("configure")

    def test_the_block(self) -> None:
        self.check_every_surface("block")


class ConfiguredRunTest(RunTestCase):
    def test_a_process_that_names_no_run_sends_nothing_new(self) -> None:
        fake = self.fake
        pulse_learning_log.configure(fake.address)
        ids = [pulse_learning_log.log_event("step", {}).event_id]
        with BatchWriter(fake.address) as writer:
            ids.append(writer.log_event("step", {}))
        with LearningLogClient(fake.address) as client:
            client.log_event("unary", {})
            client.trust.get_trust("hope")
        self.assert_runs(ids, None)
        for method in ("LogEvent", "GetMetrics", "IngestEvents"):
            self.assertTrue(all("pulse-run" not in m for m in fake.metadata_of(method)), method)
        self.assertEqual(fake.metadata_of("HoldRun"), [])

    def test_the_environment_names_the_run_and_configure_overrides_it(self) -> None:
        fake = self.fake
        os.environ[RUN_ENV] = "from-env"
        pulse_learning_log.configure(fake.address)  # re-reads the environment
        from_env = pulse_learning_log.log_event("step", {}).event_id
        pulse_learning_log.configure(fake.address, run="from-configure")
        from_configure = pulse_learning_log.log_event("step", {}).event_id
        self.assert_runs([from_env], "from-env")
        self.assert_runs([from_configure], "from-configure")

    def test_bad_run_ids_are_refused_naming_the_problem(self) -> None:
        cases = {"": "must not be empty", "x" * 129: "at most 128", 'a"b': "character 1", "a\\b": "character 1", "tab\there": "character 3", "é": "character 0"}
        for bad, problem in cases.items():
            with self.assertRaisesRegex(ValueError, problem):
                pulse_learning_log.configure(self.fake.address, run=bad)
            with self.assertRaisesRegex(ValueError, problem):
                pulse_learning_log.run(bad)
        with self.assertRaisesRegex(ValueError, "must be a string"):
            pulse_learning_log.configure(self.fake.address, run=42)  # type: ignore[arg-type]
        # The longest and the widest valid ids pass.
        pulse_learning_log.check_run_id("r" * 128)
        pulse_learning_log.check_run_id("".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\'))
        os.environ[RUN_ENV] = 'bad"run'
        with self.assertRaisesRegex(ValueError, RUN_ENV):
            pulse_learning_log.configure(self.fake.address)


class RunBlockTest(RunTestCase):
    def test_the_block_logs_start_and_finish_and_its_run_wins_while_open(self) -> None:
        fake = self.fake
        pulse_learning_log.configure(fake.address, run="base")
        before = pulse_learning_log.log_event("step", {}).event_id
        with pulse_learning_log.run("exp-7", params={"lr": 0.1, "layers": [3, 4]}) as block:
            self.assertEqual(block.run, "exp-7")
            inside = pulse_learning_log.log_variable_weight_change("hope", 0.1, 0.2).event_id
            self.assertTrue(fake.wait_for(lambda: fake.holds_open.get("exp-7", 0) > 0), "no hold while the block is open")
        after = pulse_learning_log.log_event("step", {}).event_id
        self.assert_runs([before, after], "base")
        self.assert_runs([inside], "exp-7")

        [started] = self.generic_events("run_started")
        [finished] = self.generic_events("run_finished")
        self.assertEqual(started.run, "exp-7")
        self.assertEqual(finished.run, "exp-7")
        data = dict(started.generic.data)
        self.assertEqual(data["params"]["lr"], 0.1)
        self.assertEqual(list(data["params"]["layers"]), [3, 4])
        self.assertEqual(int(data["pid"]), os.getpid())
        self.assertTrue(data["host"])
        self.assertEqual(dict(finished.generic.data), {"status": "finished"})
        # The hold ends with the block (after run_finished).
        self.assertTrue(fake.wait_for(lambda: fake.holds_open.get("exp-7", 0) == 0), "the hold outlived the block")

    def test_a_block_that_raises_logs_failed_with_type_and_message_and_re_raises(self) -> None:
        pulse_learning_log.configure(self.fake.address)
        with self.assertRaisesRegex(ZeroDivisionError, "lr too high"):
            with pulse_learning_log.run("exp-8"):
                raise ZeroDivisionError("lr too high")
        [finished] = self.generic_events("run_finished")
        self.assertEqual(finished.run, "exp-8")
        data = finished.generic.data
        self.assertEqual(data["status"], "failed")
        self.assertEqual(dict(data["error"]), {"type": "ZeroDivisionError", "message": "lr too high"})
        [started] = self.generic_events("run_started")
        self.assertEqual(dict(started.generic.data["params"]), {})
        # No run in force after it: nothing new on later events.
        self.assert_runs([pulse_learning_log.log_event("step", {}).event_id], None)

    def test_sys_exit_in_the_block_finishes_the_run_unless_its_status_is_an_error(self) -> None:
        pulse_learning_log.configure(self.fake.address)
        for code, status in ((None, "finished"), (0, "finished"), (3, "failed"), ("bad config", "failed")):
            with self.subTest(code=code), self.assertRaises(SystemExit):
                with pulse_learning_log.run(f"exp-exit-{code}"):
                    sys.exit(code)
        finished = {e.run: e.generic.data for e in self.generic_events("run_finished")}
        self.assertEqual(dict(finished["exp-exit-None"]), {"status": "finished"})
        self.assertEqual(dict(finished["exp-exit-0"]), {"status": "finished"})
        self.assertEqual(dict(finished["exp-exit-3"]["error"]), {"type": "SystemExit", "message": "3"})
        self.assertEqual(dict(finished["exp-exit-bad config"]["error"]), {"type": "SystemExit", "message": "bad config"})

    def test_a_batch_may_mix_runs(self) -> None:
        fake = self.fake
        pulse_learning_log.configure(fake.address)
        with BatchWriter(fake.address, flush_interval=60) as writer:
            outside = writer.log_event("step", {})
            with pulse_learning_log.run("exp-mix"):
                inside = writer.log_event("step", {})
            last = writer.log_event("step", {})
            writer.flush()
        self.assert_runs([outside, last], None)
        self.assert_runs([inside], "exp-mix")

    def test_the_block_logs_through_a_given_writer_and_flushes_it(self) -> None:
        fake = self.fake
        with BatchWriter(fake.address, flush_interval=60) as writer:
            with pulse_learning_log.run("exp-writer", params={"seed": 1}, client=writer):
                inside = writer.log_event("step", {})
            # Flushed by the block: durable before the with statement returns.
            self.assertEqual(writer.buffered, 0)
        self.assert_runs([inside], "exp-writer")
        self.assertEqual([e.run for e in self.generic_events("run_finished")], ["exp-writer"])

    def test_the_asyncio_block(self) -> None:
        fake = self.fake

        async def main() -> str:
            async with aio.LearningLogClient(fake.address) as client:
                with self.assertRaises(KeyError):
                    async with aio.run("exp-async", params={"k": 1}, client=client):
                        await client.log_event("inside", {})
                        # The hold is opened beside the calls: awaited here, or a
                        # block as short as this one may end it before it arrives.
                        held = await asyncio.get_running_loop().run_in_executor(None, fake.wait_for, lambda: fake.holds_open.get("exp-async", 0) > 0)
                        self.assertTrue(held, "no hold while the block is open")
                        raise KeyError("missing")
            async with aio.BatchWriter(fake.address) as writer:
                async with aio.run("exp-async-2", client=writer):
                    event_id = await writer.log_event("step", {})
            return event_id

        event_id = asyncio.run(main())
        self.assertEqual(fake.metadata_of("LogEvent")[0].get("pulse-run"), "exp-async")
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("LogEvent")], ["exp-async"] * 3)
        self.assert_runs([event_id], "exp-async-2")
        self.assertTrue(fake.wait_for(lambda: fake.holds_open.get("exp-async", 0) == 0 and fake.holds_open.get("exp-async-2", 0) == 0), "a hold outlived its block")


    def test_the_asyncio_block_without_a_client_logs_where_the_module_functions_do(self) -> None:
        fake = self.fake
        pulse_learning_log.configure(fake.address)

        async def main() -> None:
            async with aio.run("exp-own", params={"seed": 7}) as block:
                self.assertEqual(block.run, "exp-own")

        asyncio.run(main())
        self.assertEqual([m.get("pulse-run") for m in fake.metadata_of("LogEvent")], ["exp-own", "exp-own"])
        self.assertTrue(fake.wait_for(lambda: fake.holds_open.get("exp-own", 0) == 0))


class HoldTest(RunTestCase):
    def test_a_hold_the_server_ended_is_opened_again(self) -> None:
        fake = self.fake
        pulse_learning_log.configure(fake.address, run="exp-hold")
        pulse_learning_log.log_event("step", {})
        self.assertTrue(fake.wait_for(lambda: fake.holds_open.get("exp-hold", 0) == 1))
        fake.end_holds()  # as a server restart does
        self.assertTrue(fake.wait_for(lambda: len(fake.holds) == 2 and fake.holds_open.get("exp-hold", 0) == 1), "the hold was not opened again")
        self.assertEqual(fake.holds, ["exp-hold", "exp-hold"])

    def test_a_hold_is_opened_again_on_a_server_back_after_a_stop(self) -> None:
        first = self.fake
        pulse_learning_log.configure(first.address, run="exp-back")
        pulse_learning_log.log_event("step", {})
        self.assertTrue(first.wait_for(lambda: first.holds_open.get("exp-back", 0) == 1))
        first.stop()  # the hold fails (UNAVAILABLE) and is retried with backoff
        self.fake = FakeServer(port=first.port)
        back = self.fake
        self.assertTrue(back.wait_for(lambda: back.holds_open.get("exp-back", 0) == 1), "the hold was not opened on the server that came back")

    def test_a_server_without_holdrun_means_no_hold_said_once_at_debug(self) -> None:
        fake = self.fake
        fake.hold_status = grpc.StatusCode.UNIMPLEMENTED
        said = threading.Event()
        records: List[logging.LogRecord] = []

        class Catch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)
                if "HoldRun" in record.getMessage():
                    said.set()

        client_logger = logging.getLogger("pulse_learning_log")
        catch, level = Catch(logging.DEBUG), client_logger.level
        client_logger.addHandler(catch)
        client_logger.setLevel(logging.DEBUG)
        try:
            pulse_learning_log.configure(fake.address, run="exp-nohold")
            first = pulse_learning_log.log_event("step", {}).event_id
            self.assertTrue(said.wait(30), "the missing HoldRun was not logged")
            with LearningLogClient(fake.address, stream=True) as other:
                later = [pulse_learning_log.log_event("step", {}).event_id, other.log_event("step", {}).event_id]
        finally:
            client_logger.removeHandler(catch)
            client_logger.setLevel(level)
        self.assert_runs([first, *later], "exp-nohold")
        # The other client's connection tried once too; neither tried again.
        self.assertTrue(fake.wait_for(lambda: len(fake.metadata_of("HoldRun")) == 2))
        self.assertEqual(len(fake.metadata_of("HoldRun")), 2)
        about_hold = [r for r in records if "HoldRun" in r.getMessage()]
        self.assertEqual([r.levelno for r in about_hold], [logging.DEBUG])
        self.assertFalse([r for r in records if r.levelno >= logging.WARNING])


class EnvironmentTest(RunTestCase):
    """Trainers as their own processes, configured by the environment only."""

    TRAINER = """
        import pulse_learning_log as log
        log.log_variable_weight_change("hope", 0.1, 0.2)
        log.log_event("step", {"n": 1})
        log.log_event("step", {"n": 2})
        print("done")
    """

    def runs_seen(self) -> List[Optional[str]]:
        with self.fake.changed:
            return [e.run if e.HasField("run") else None for e in self.fake.ingested_events]

    def test_pulse_learning_log_run(self) -> None:
        done = run_script(self.TRAINER, PULSE_LEARNING_LOG_ADDR=self.fake.address, PULSE_LEARNING_LOG_RUN="env-run")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.runs_seen(), ["env-run"] * 3)
        self.assertEqual(done.stderr, "")

    def test_the_original_path_gives_a_derived_run_and_one_warning(self) -> None:
        for path, run in (("/data/pulse/learning log.jsonl", "/data/pulse/learning log.jsonl"), ('/data/é/"q".jsonl', "/data/_/_q_.jsonl"), ("/" + "d" * 200 + "/log.jsonl", ("d" * 200 + "/log.jsonl")[-128:])):
            with self.subTest(path=path):
                self.fake.ingested_events.clear()
                done = run_script(self.TRAINER, PULSE_LEARNING_LOG_ADDR=self.fake.address, PULSE_LEARNING_LOG_PATH=path)
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(self.runs_seen(), [run] * 3)
                warnings = [line for line in done.stderr.splitlines() if "PULSE_LEARNING_LOG_PATH" in line]
                self.assertEqual(len(warnings), 1, done.stderr)
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                self.assertIn("pulse-log export --run", warnings[0])
                self.assertIn(repr(run), warnings[0])

    def test_the_path_with_a_named_run_warns_once_that_it_is_not_used(self) -> None:
        done = run_script(self.TRAINER, PULSE_LEARNING_LOG_ADDR=self.fake.address, PULSE_LEARNING_LOG_PATH="/data/old.jsonl", PULSE_LEARNING_LOG_RUN="named")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.runs_seen(), ["named"] * 3)
        lines = done.stderr.splitlines()
        self.assertEqual(len(lines), 1, done.stderr)
        self.assertIn("PULSE_LEARNING_LOG_PATH=/data/old.jsonl is not used", lines[0])
        self.assertIn("'named'", lines[0])
        self.assertIn("pulse-log export --run named > /data/old.jsonl", lines[0])


if __name__ == "__main__":
    unittest.main()
