"""Reading the log back from Python, against the real server: ``list_runs``
(ListRuns: the run index's runs, counts and statuses) and ``read_events``
(ReadEvents, by run, type, seq, limit, following new records), on the sync
and asyncio clients; bad arguments refused before anything is sent."""

from __future__ import annotations

import asyncio
import json
import time
import unittest
from typing import Callable, Dict, List

from helpers import ServerProcess, TempDir, read_lines, start_server_in_temp_dir

import pulse_learning_log
import pulse_learning_log.aio
from pulse_learning_log import InvalidArgument, LearningLogClient, LogRecord, RunInfo, RunList

server: ServerProcess
tmp: TempDir

# How long the server's run index may take to show a record's effect (it is
# normally at once; a loaded machine may be slow, but never this slow).
INDEX_DEADLINE_S = 60.0


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()
    with LearningLogClient(server.address) as client:
        client.log_revision_trigger("before any run")
        with pulse_learning_log.run("exp-a", {"lr": 0.1}, client=client):
            for step in range(3):
                client.log_variable_weight_change("hope", float(step), step + 1.0)
        try:
            with pulse_learning_log.run("exp-b", client=client):
                client.log_rule_activation("R1", "hope", "ok")
                raise ValueError("diverged")
        except ValueError:
            pass


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


def lines_by_seq() -> Dict[int, str]:
    return {json.loads(line)["seq"]: line for line in read_lines(server.log_path)}


def await_runs(client: LearningLogClient, condition: Callable[[RunList], bool], what: str) -> RunList:
    """Asks ListRuns until ``condition`` holds, within INDEX_DEADLINE_S."""
    deadline = time.monotonic() + INDEX_DEADLINE_S
    listed = client.list_runs()
    while not condition(listed):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {INDEX_DEADLINE_S} s; last: {listed}")
        time.sleep(0.05)  # a poll of the server's index: there is no event to await
        listed = client.list_runs()
    return listed


def finished(listed: RunList) -> bool:
    a, b = listed.get("exp-a"), listed.get("exp-b")
    return a is not None and b is not None and a.status == "finished" and b.status == "failed"


class ListRunsTest(unittest.TestCase):
    def test_runs_with_their_counts_and_statuses(self) -> None:
        with LearningLogClient(server.address) as client:
            listed = await_runs(client, finished, "exp-a finished and exp-b failed")
        a = listed.get("exp-a")
        b = listed.get("exp-b")
        assert a is not None and b is not None
        self.assertIsInstance(a, RunInfo)
        self.assertEqual(a.event_count, 5)
        self.assertEqual(a.event_types, {"run_started": 1, "variable_weight_update": 3, "run_finished": 1})
        self.assertLess(a.first_seq, a.last_seq)
        self.assertLess(a.last_seq, b.first_seq)
        self.assertLessEqual(a.first_timestamp, a.last_timestamp)
        self.assertIsNone(a.error)
        self.assertEqual(b.event_types, {"run_started": 1, "rule_activation": 1, "run_finished": 1})
        self.assertIn("diverged", b.error or "")
        self.assertGreaterEqual(listed.indexed_seq, b.last_seq)
        # The records ListRuns counted are the log's.
        lines = lines_by_seq()
        self.assertEqual(json.loads(lines[a.first_seq])["event_type"], "run_started")
        self.assertEqual(json.loads(lines[a.last_seq])["timestamp"], a.last_timestamp)
        self.assertEqual([r.run for r in listed.runs][:2], ["exp-a", "exp-b"], "by first seq")

    def test_only_the_runs_asked_for(self) -> None:
        with LearningLogClient(server.address) as client:
            await_runs(client, finished, "both runs ended")
            listed = client.list_runs(["exp-b", "no-such-run"])
        self.assertEqual([info.run for info in listed.runs], ["exp-b"])
        self.assertIsNone(listed.get("no-such-run"))

    def test_bad_run_ids_are_refused_before_sending(self) -> None:
        with LearningLogClient("127.0.0.1:1") as client:  # nothing is sent: no server needed
            for runs, named in ((["ok", 'quo"te'], "runs[1]"), ([""], "runs[0]"), (["x" * 129], "runs[0]")):
                with self.subTest(runs=runs), self.assertRaises(ValueError) as caught:
                    client.list_runs(runs)
                self.assertIn(named, str(caught.exception))
            with self.assertRaises(ValueError):
                client.list_runs("exp-a")  # one string, not a list


class ReadEventsTest(unittest.TestCase):
    def test_one_run_in_seq_order_as_written(self) -> None:
        with LearningLogClient(server.address) as client:
            records = list(client.read_events(runs=["exp-a"]))
        self.assertTrue(all(isinstance(r, LogRecord) for r in records))
        self.assertEqual([r.event_type for r in records], ["run_started"] + ["variable_weight_update"] * 3 + ["run_finished"])
        self.assertEqual({r.run for r in records}, {"exp-a"})
        self.assertEqual([r.seq for r in records], sorted(r.seq for r in records))
        self.assertEqual(records[0].record["data"]["params"], {"lr": 0.1})
        self.assertEqual(records[2].record["data"], {"variable": "hope", "from": 1, "to": 2})
        lines = lines_by_seq()
        for r in records:
            self.assertEqual(r.json, lines[r.seq], "the line as written")
            self.assertEqual((r.event_id, r.timestamp), (r.record["event_id"], r.record["timestamp"]))

    def test_runs_types_seq_and_limit_together(self) -> None:
        with LearningLogClient(server.address) as client:
            ends = list(client.read_events(runs=["exp-a", "exp-b"], event_types=["run_finished"]))
            self.assertEqual([(r.run, r.record["data"]["status"]) for r in ends], [("exp-a", "finished"), ("exp-b", "failed")])
            two = list(client.read_events(runs=["exp-a"], limit=2))
            self.assertEqual([r.event_type for r in two], ["run_started", "variable_weight_update"])
            later = list(client.read_events(runs=["exp-a"], from_seq=two[1].seq + 1))
            self.assertEqual(len(later), 3)
            everything = list(client.read_events())
        self.assertIn(None, {r.run for r in everything}, "a record of no run has run None")
        self.assertEqual(everything[0].record["data"], {"reason": "before any run"})

    def test_follow_yields_records_written_after_the_read_began(self) -> None:
        with LearningLogClient(server.address) as client:
            with pulse_learning_log.run("exp-follow", client=client):
                records = client.read_events(runs=["exp-follow"], follow=True, timeout=120)
                first = next(records)  # run_started, written before the read
                client.log_revision_trigger("while following")
                second = next(records)
                records.close()  # ends the call
        self.assertEqual((first.event_type, second.event_type), ("run_started", "symbolic_revision_triggered"))
        self.assertEqual(second.record["data"], {"reason": "while following"})

    def test_bad_arguments_are_refused_before_sending_and_the_servers_refusal_is_typed(self) -> None:
        with LearningLogClient(server.address) as client:
            for kwargs, named in (
                ({"runs": ["a\\b"]}, "runs[0]"),
                ({"runs": "exp-a"}, "runs"),
                ({"limit": -1}, "limit"),
                ({"from_seq": True}, "from_seq"),
                ({"event_types": [3]}, "event_types[0]"),
            ):
                with self.subTest(**{k: repr(v) for k, v in kwargs.items()}), self.assertRaises(ValueError) as caught:
                    client.read_events(**kwargs)  # type: ignore[arg-type]  # raises at the call, not at the first record
                self.assertIn(named, str(caught.exception))
            with self.assertRaises(InvalidArgument) as refused:
                list(client.read_events(since="not a time"))
            self.assertIn("since", str(refused.exception))


class AsyncReadsTest(unittest.IsolatedAsyncioTestCase):
    async def test_list_runs_and_read_events(self) -> None:
        async with pulse_learning_log.aio.LearningLogClient(server.address) as client:
            deadline = time.monotonic() + INDEX_DEADLINE_S
            listed = await client.list_runs(["exp-a", "exp-b"])
            while not finished(listed) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # a poll of the server's index, as above
                listed = await client.list_runs(["exp-a", "exp-b"])
            self.assertTrue(finished(listed), listed)
            records: List[LogRecord] = [r async for r in client.read_events(runs=["exp-b"])]
            self.assertEqual([r.event_type for r in records], ["run_started", "rule_activation", "run_finished"])
            first_only = [r async for r in client.read_events(runs=["exp-a", "exp-b"], limit=1)]
            self.assertEqual([(r.run, r.event_type) for r in first_only], [("exp-a", "run_started")])
            with self.assertRaises(ValueError):
                client.read_events(runs=[""])


if __name__ == "__main__":
    unittest.main()
