"""Runs against the real server (issue 22): the records carry the run the
process named, in its place (after data/context, before seq); a run block's
start and finish records give the run its status in ListRuns; two trainers
logging at once with different runs each get only their own run; a trainer
killed with SIGKILL in the middle of a run leaves it listed as ended without
a finish record (its hold ended)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import unittest
from typing import Any, Callable, Dict, List, Optional

import grpc
from helpers import REPO_ROOT, ServerProcess, TempDir, read_lines, read_records
from pulse.learninglog.v1 import learning_log_pb2 as pb
from pulse.learninglog.v1 import learning_log_pb2_grpc as pb_grpc

import pulse_learning_log
from pulse_learning_log import BatchWriter, LearningLogClient

server: ServerProcess
tmp: TempDir
channel: grpc.Channel
stub: Any

# How long the server may take to notice a state change (a hold that ended).
STATE_DEADLINE_S = 60.0


def setUpModule() -> None:
    global server, tmp, channel, stub
    tmp = TempDir()
    try:
        server = ServerProcess(tmp.path / "pulse_learning_log.jsonl").start()
    except BaseException:
        tmp.remove()
        raise
    channel = grpc.insecure_channel(server.address)
    stub = pb_grpc.LearningLogServiceStub(channel)


def tearDownModule() -> None:
    channel.close()
    server.stop()
    tmp.remove()


def trainer_env(**env: str) -> Dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_LEARNING_LOG_")}
    return {**clean, "PULSE_LEARNING_LOG_ADDR": server.address, **env}


def list_run(run: str) -> Optional[Any]:
    """The server's RunInfo of ``run``, or None when it lists no such run."""
    response = stub.ListRuns(pb.ListRunsRequest(runs=[run]), timeout=10)
    found = [info for info in response.runs if info.run == run]
    return found[0] if found else None


def await_run(run: str, condition: Callable[[Any], bool], what: str) -> Any:
    """Polls ListRuns until ``condition(info)`` holds, within STATE_DEADLINE_S;
    fails with the last answer otherwise (a loaded machine may be slow, but
    never this slow)."""
    deadline = time.monotonic() + STATE_DEADLINE_S
    info = None
    while time.monotonic() < deadline:
        info = list_run(run)
        if info is not None and condition(info):
            return info
        time.sleep(0.05)  # a poll of the server's state: there is no event to await
    raise AssertionError(f"run {run!r}: {what} not seen within {STATE_DEADLINE_S} s; last: {info}")


def records_of(event_ids: List[str]) -> Dict[str, Dict[str, Any]]:
    wanted = set(event_ids)
    return {r["event_id"]: r for r in read_records(server.log_path) if r["event_id"] in wanted}


class RunRecordsTest(unittest.TestCase):
    def tearDown(self) -> None:
        pulse_learning_log.configure()

    def test_every_surface_writes_the_run_in_its_place(self) -> None:
        pulse_learning_log.configure(server.address, run="exp-records")
        ids = [pulse_learning_log.log_event("step", {"n": 1}, {"where": "module"}).event_id]
        with LearningLogClient(server.address) as client:
            ids.append(client.log_variable_weight_change("hope", 0.1, 0.2).event_id)
        with BatchWriter(server.address) as writer:
            ids.append(writer.log_revision_trigger("drift"))
        records = records_of(ids)
        self.assertEqual(sorted(records), sorted(ids))
        for record in records.values():
            self.assertEqual(record["run"], "exp-records")
            keys = list(record)
            before = "context" if "context" in record else "data"
            self.assertEqual(keys[keys.index(before) + 1 : keys.index("seq")], ["run"], keys)
        # A record the server writes for a call carries the call's run.
        pulse_learning_log.generate_trust_report(min_samples=0)
        [report] = [r for r in read_records(server.log_path) if r["event_type"] == "trust_report_generated"][-1:]
        self.assertEqual(report.get("run"), "exp-records")

        # No run: no member.
        pulse_learning_log.configure(server.address)
        plain = pulse_learning_log.log_event("step", {}).event_id
        self.assertNotIn("run", records_of([plain])[plain])

    # The run contract: pulse-run "applies to every event of the call that
    # names no run itself (... and the trust service's calls whose audit
    # records the server writes)".
    def test_the_trust_trackers_audit_record_carries_the_calls_run(self) -> None:
        pulse_learning_log.configure(server.address, run="exp-audit")
        update = pulse_learning_log.bayesian_trust_tracker.update("hope", True)
        assert update is not None
        audit = [r for r in read_records(server.log_path) if r["seq"] == update.seq]
        self.assertEqual(len(audit), 1)
        self.assertEqual(audit[0].get("run"), "exp-audit")

    def test_a_finished_and_a_failed_block_in_list_runs(self) -> None:
        pulse_learning_log.configure(server.address)
        with pulse_learning_log.run("exp-finished", params={"lr": 0.1}):
            pulse_learning_log.log_event("step", {})
            pulse_learning_log.log_event("step", {})
        with self.assertRaises(RuntimeError):
            with pulse_learning_log.run("exp-failed"):
                raise RuntimeError("diverged at step 3")
        finished = await_run("exp-finished", lambda i: i.status == pb.RUN_STATUS_FINISHED, "FINISHED")
        self.assertEqual(finished.event_count, 4)
        self.assertEqual(dict(finished.event_types), {"run_started": 1, "step": 2, "run_finished": 1})
        failed = await_run("exp-failed", lambda i: i.status == pb.RUN_STATUS_FAILED, "FAILED")
        self.assertIn("diverged at step 3", failed.error)
        records = [r for r in read_records(server.log_path) if r.get("run") == "exp-failed"]
        self.assertEqual([r["event_type"] for r in records], ["run_started", "run_finished"])
        self.assertEqual(records[1]["data"], {"status": "failed", "error": {"type": "RuntimeError", "message": "diverged at step 3"}})
        self.assertEqual(records[0]["data"]["params"], {})


class TrainerProcessesTest(unittest.TestCase):
    TRAINER = """
        import os, sys
        import pulse_learning_log as log
        name = sys.argv[1]
        for step in range(40):
            log.log_variable_weight_change(name, step, step + 1)
        with log.BatchWriter() as writer:
            for step in range(200):
                writer.log_event("step", {"trainer": name, "step": step})
        log.log_event("trainer_done", {"trainer": name})
    """

    def test_two_trainers_at_once_each_get_only_their_own_run(self) -> None:
        script = textwrap.dedent(self.TRAINER)
        trainers = {
            name: subprocess.Popen([sys.executable, "-c", script, name], env=trainer_env(PULSE_LEARNING_LOG_RUN=run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, run in (("A", "runA"), ("B", "runB"))
        }
        for name, process in trainers.items():
            out, err = process.communicate(timeout=120)
            self.assertEqual(process.returncode, 0, f"trainer {name}: {err}")
        by_trainer: Dict[str, List[str]] = {"A": [], "B": []}
        for record in read_records(server.log_path):
            data = record["data"]
            trainer = data.get("trainer") or data.get("variable")
            if record.get("run") in ("runA", "runB") or trainer in by_trainer:
                by_trainer[trainer].append(record.get("run"))
        for name, run in (("A", "runA"), ("B", "runB")):
            self.assertEqual(len(by_trainer[name]), 241)
            self.assertEqual(set(by_trainer[name]), {run}, f"trainer {name}")
        for run in ("runA", "runB"):
            info = list_run(run)
            self.assertIsNotNone(info)
            self.assertEqual(info.event_count, 241)

    def test_the_path_warnings_command_gives_the_original_file_back(self) -> None:
        path = tmp.path / "trainer" / "learning_log.jsonl"
        script = textwrap.dedent(
            """
            import json
            import pulse_learning_log as log
            ids = [log.log_variable_weight_change("hope", 0.1, 0.2).event_id, log.log_event("step", {"n": 1}).event_id]
            print(json.dumps(ids))
            """
        )
        done = subprocess.run([sys.executable, "-c", script], env=trainer_env(PULSE_LEARNING_LOG_PATH=str(path)), capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        ids = json.loads(done.stdout)
        [warning] = done.stderr.splitlines()
        command = shlex.split(warning.split("to get them as a file: ", 1)[1])
        self.assertEqual(command[:3], ["pulse-log", "export", "--run"])
        self.assertEqual(command[4:], [">", str(path)])
        run = command[3]
        self.assertEqual(run, str(path))  # a valid run id: the path as given

        path.parent.mkdir()
        with open(path, "wb") as out:
            exported = subprocess.run(["node", str(REPO_ROOT / "bin" / "pulse-log.js"), *command[1:4]], cwd=REPO_ROOT, env=trainer_env(), stdout=out, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(exported.returncode, 0, exported.stderr)
        lines = path.read_bytes().decode("utf-8").splitlines()
        self.assertEqual([json.loads(line)["event_id"] for line in lines], ids)
        in_log = {r["event_id"]: line for r, line in zip(read_records(server.log_path), read_lines(server.log_path))}
        self.assertEqual(lines, [in_log[i] for i in ids])

    def test_a_trainer_killed_mid_run_is_listed_as_ended_without_a_finish_record(self) -> None:
        script = textwrap.dedent(
            """
            import sys
            import pulse_learning_log as log
            with log.run("doomed", params={"epochs": 10}):
                log.log_event("step", {"n": 1})
                print("ready", flush=True)
                sys.stdin.read()  # until killed
            """
        )
        process = subprocess.Popen([sys.executable, "-c", script], env=trainer_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None
            self.assertEqual(process.stdout.readline().strip(), "ready", process.stderr.read() if process.poll() is not None else "")
            await_run("doomed", lambda i: i.status == pb.RUN_STATUS_LOGGING and i.event_count == 2, "LOGGING")
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        info = await_run("doomed", lambda i: i.status == pb.RUN_STATUS_ENDED_WITHOUT_FINISH, "ENDED_WITHOUT_FINISH")
        self.assertEqual(dict(info.event_types), {"run_started": 1, "step": 1})


if __name__ == "__main__":
    unittest.main()
