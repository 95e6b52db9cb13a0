"""A BatchWriter survives its server's death: kill -9 (and a graceful SIGTERM)
in the middle of the stream, restart on the same log and port, and every
event is in the log exactly once."""

from __future__ import annotations

import threading
import unittest
from collections import Counter
from typing import Callable

from helpers import ServerProcess, TempDir, read_records

from pulse_learning_log import BatchAck, BatchWriter

# The server is stopped once this many events are durable; the producer keeps
# logging through the outage and stops AFTER_RESTART events after the restart.
STOP_AFTER_ACKED = 10_000
AFTER_RESTART = 2_000
EVENTS_MAX = 3_000_000


class RestartTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = TempDir()
        self.server = ServerProcess(self.tmp.path / "pulse_learning_log.jsonl")

    def tearDown(self) -> None:
        self.server.stop()
        self.tmp.remove()

    def write_through_a_restart(self, stop: Callable[[], object]) -> None:
        acked = 0
        fired = threading.Event()
        stopped = threading.Event()
        restarted = threading.Event()
        failure: list = []

        def restart() -> None:
            try:
                stop()
                stopped.set()
                self.server.start()  # same port, same log
            except Exception as err:  # noqa: BLE001 - reported by the test thread
                failure.append(err)
            finally:
                stopped.set()
                restarted.set()

        def on_ack(ack: BatchAck) -> None:
            nonlocal acked
            acked += ack.size
            # With batches in flight and more coming.
            if acked >= STOP_AFTER_ACKED and not fired.is_set():
                fired.set()
                threading.Thread(target=restart, daemon=True).start()

        writer = BatchWriter(
            self.server.address,
            batch_events_max=500,
            buffer_events_max=5_000,  # the producer must wait out the outage
            backoff_initial=0.02,
            backoff_max=0.2,
            retry_timeout=60,
            on_batch_acked=on_ack,
        )
        try:
            ids = []
            last = EVENTS_MAX
            try:
                for i in range(EVENTS_MAX):
                    ids.append(writer.log_variable_weight_change(f"var{i % 97}", float(i), float(i + 1)))
                    if last == EVENTS_MAX and restarted.is_set():
                        last = i + AFTER_RESTART
                    elif i >= last:
                        break
            except Exception as err:
                restarted.wait(60)
                raise AssertionError(f"writing failed ({err}); restart: {failure}; server output:\n" + "\n".join(self.server.output[-30:])) from err
            self.assertTrue(restarted.is_set(), "the server was restarted while the producer ran")
            self.assertEqual(failure, [])
            writer.flush(timeout=60)
            stats = writer.stats()
            writer.close(timeout=30)
        finally:
            writer.abort()

        self.assertGreaterEqual(stats["retries"], 1, "the stream broke and was re-opened")
        self.assertTrue(stopped.is_set())
        self.assertEqual(stats["written"] + stats["duplicates"], len(ids))
        records = read_records(self.server.log_path)
        counts = Counter(r["event_id"] for r in records)
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual([i for i in ids if counts[i] != 1], [], "each event exactly once")
        self.assertEqual(set(counts) - set(ids), set(), "nothing else written")
        seqs = [r["seq"] for r in records]
        self.assertEqual(seqs, list(range(1, len(records) + 1)), "seq continues across the restart")
        # The data survived too (spot check: event i carries from=i).
        by_id = {r["event_id"]: r for r in records}
        for i in (0, len(ids) // 2, len(ids) - 1):
            self.assertEqual(by_id[ids[i]]["data"], {"variable": f"var{i % 97}", "from": i, "to": i + 1})

    def test_kill_9_mid_stream(self) -> None:
        self.server.start()
        self.write_through_a_restart(self.server.kill)

    def test_graceful_sigterm_mid_stream(self) -> None:
        # The writer's stream is busy when SIGTERM comes: the server must end
        # it (answering or not the batches in flight) within its shutdown deadline.
        self.server.start()

        def terminate() -> None:
            self.assertEqual(self.server.terminate(), 0, "graceful shutdown exits 0")

        self.write_through_a_restart(terminate)


if __name__ == "__main__":
    unittest.main()
