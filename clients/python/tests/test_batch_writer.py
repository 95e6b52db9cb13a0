"""BatchWriter: durable flush, batching by size and by time, bounded buffer
(block and raise), per-event rejections, retryable and fatal statuses."""

from __future__ import annotations

import queue
import threading
import time
import unittest
from collections import Counter

import grpc
from fake_server import FakeServer, answer_all
from helpers import ServerProcess, TempDir, assert_close, free_port, original_record, read_records, records_by_id, start_server_in_temp_dir

from pulse.learninglog.v1 import learning_log_pb2 as pb

from pulse_learning_log.diagnostics import forget_redactions
from pulse_learning_log import BatchAck, BatchWriter, BufferFull, Internal, LearningLogClient, PermissionDenied, Rejection

server: ServerProcess
tmp: TempDir

# Every event of the catalog, with arguments, for mixed batches.
CALLS = [
    ("log_event", ("custom", {"i": 0, "nested": {"l": [1, "x", None]}}, {"run": "r"})),
    ("log_variable_weight_change", ("hope", 1.0, 1.5)),
    ("log_symbolic_upgrade", ({"hope": "+0.1"},)),
    ("log_revision_trigger", ("fragmentation",)),
    ("log_arc_regret", ({"arc_a": 0.25},)),
    ("log_learning_summary", ({"summary": "s", "n": 3},)),
    ("log_rule_activation", ("R1", "hope", {"label": "ok"}, "F1", True)),
    ("log_rule_activation", ("R2", "despair", "fail")),
    ("log_bayesian_trust_metrics", ("bw_key", "rule")),
]


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


class AckQueue:
    """Collects BatchAcks from the writer thread; tests await them."""

    def __init__(self) -> None:
        self.acks: "queue.Queue[BatchAck]" = queue.Queue()

    def __call__(self, ack: BatchAck) -> None:
        self.acks.put(ack)

    def next(self, timeout: float = 20.0) -> BatchAck:
        return self.acks.get(timeout=timeout)


class DurabilityTest(unittest.TestCase):
    def test_flush_returns_when_everything_is_durable(self) -> None:
        expected = {}
        with BatchWriter(server.address) as writer:
            for i in range(300):
                for method, args in CALLS:
                    expected[getattr(writer, method)(*args)] = (method, args)
            writer.flush()
            # Read right after flush: every event is already in the file.
            records = records_by_id(server.log_path)
            self.assertEqual(writer.buffered, 0)
            self.assertEqual(writer.stats()["written"], len(expected))
        self.assertEqual(len(expected), 300 * len(CALLS))
        missing = [e for e in expected if e not in records]
        self.assertEqual(missing, [])
        for event_id, (method, args) in list(expected.items())[: len(CALLS)]:
            want = original_record(method, *args)
            self.assertEqual(records[event_id]["event_type"], want["event_type"])
            assert_close(self, records[event_id]["data"], want["data"])
            self.assertEqual(records[event_id].get("context"), want.get("context"))

    def test_many_threads_share_one_writer(self) -> None:
        ids: list = []
        with BatchWriter(server.address, batch_events_max=100) as writer:

            def produce(n: int) -> None:
                mine = [writer.log_learning_summary({"thread": n, "i": i}) for i in range(1500)]
                ids.extend(mine)  # list.extend is atomic

            threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        counts = Counter(r["event_id"] for r in read_records(server.log_path))
        self.assertEqual(len(ids), 6000)
        self.assertEqual([i for i in ids if counts[i] != 1], [])

    def test_log_rule_effectiveness_in_a_batch(self) -> None:
        with BatchWriter(server.address) as writer:
            event_id = writer.log_rule_effectiveness("R9", 4, 0.25, 0.5)
        data = records_by_id(server.log_path)[event_id]["data"]
        self.assertEqual({k: data[k] for k in ("rule_id", "activation_count", "success_rate", "impact_score")}, {"rule_id": "R9", "activation_count": 4, "success_rate": 0.25, "impact_score": 0.5})

    def test_close_flushes_and_later_logs_raise(self) -> None:
        writer = BatchWriter(server.address, flush_interval=60)
        ids = [writer.log_revision_trigger(f"close {i}") for i in range(10)]
        writer.close()
        records = records_by_id(server.log_path)
        self.assertTrue(all(i in records for i in ids))
        with self.assertRaises(RuntimeError):
            writer.log_revision_trigger("too late")
        writer.close()  # closing twice is harmless

    def test_with_block_failing_still_flushes_and_propagates(self) -> None:
        with self.assertRaises(KeyError):
            with BatchWriter(server.address, flush_interval=60) as writer:
                event_id = writer.log_revision_trigger("before the error")
                raise KeyError("in the block")
        self.assertIn(event_id, records_by_id(server.log_path))

    def test_shared_client_channel(self) -> None:
        with LearningLogClient(server.address) as client:
            with BatchWriter(client=client) as writer:
                event_id = writer.log_revision_trigger("shared channel")
            # The client still works: the writer did not close its channel.
            client.log_revision_trigger("client after writer")
        self.assertIn(event_id, records_by_id(server.log_path))


class BatchingTest(unittest.TestCase):
    def test_a_full_batch_is_sent_without_waiting(self) -> None:
        acks = AckQueue()
        with BatchWriter(server.address, batch_events_max=10, flush_interval=60, on_batch_acked=acks) as writer:
            ids = [writer.log_revision_trigger(f"size {i}") for i in range(25)]
            first, second = acks.next(), acks.next()
            self.assertEqual((first.size, second.size), (10, 10))
            self.assertEqual((first.count, second.count), (10, 10))
            self.assertEqual(second.first_seq, first.last_seq + 1)
            # The 5 left wait for their interval (60 s) or a flush.
            self.assertEqual(writer.buffered, 5)
            self.assertTrue(acks.acks.empty())
            writer.flush()
            self.assertEqual(acks.next().size, 5)
        records = records_by_id(server.log_path)
        self.assertTrue(all(i in records for i in ids))

    def test_acks_name_redactions_and_the_timestamp_and_each_path_is_warned_about_once(self) -> None:
        forget_redactions()
        acks = AckQueue()
        with self.assertLogs("pulse_learning_log", "WARNING") as logged:
            with BatchWriter(server.address, batch_events_max=4, flush_interval=60, on_batch_acked=acks) as writer:
                ids = [
                    writer.log_event("contact", {"email": "a@example.com"}),
                    writer.log_revision_trigger("plain"),
                    writer.log_event("contact", {"email": "b@example.com"}),
                    writer.log_symbolic_upgrade({"owner_phone": "+44 20 7946 0958"}),
                ]
                ack = acks.next()
        records = records_by_id(server.log_path)
        self.assertEqual(ack.redactions, ((ids[0], ("data.email",)), (ids[2], ("data.email",)), (ids[3], ("data.changes.owner_phone",))))
        last = next(r for r in records.values() if r["seq"] == ack.last_seq)
        self.assertEqual(ack.timestamp, last["timestamp"])
        warnings = sorted(r.getMessage() for r in logged.records if r.levelname == "WARNING")
        self.assertEqual(len(warnings), 2, warnings)
        self.assertIn("data.changes.owner_phone of a symbolic_upgrade_applied event", warnings[0])
        self.assertIn("data.email of a contact event", warnings[1])

    def test_a_partial_batch_is_sent_after_the_interval(self) -> None:
        acks = AckQueue()
        # An interval long enough for three log calls on a loaded machine to land in one batch.
        with BatchWriter(server.address, flush_interval=2.0, on_batch_acked=acks) as writer:
            started = time.monotonic()
            for i in range(3):
                writer.log_revision_trigger(f"interval {i}")
            ack = acks.next()
            waited = time.monotonic() - started
        self.assertEqual(ack.size, 3)
        self.assertGreaterEqual(waited, 2.0)

    def test_batches_respect_the_byte_limit(self) -> None:
        acks = AckQueue()
        with BatchWriter(server.address, batch_bytes_max=4096, flush_interval=60, on_batch_acked=acks) as writer:
            for i in range(20):
                writer.log_event("bytes", {"blob": "x" * 1000, "i": i})
            writer.flush()
        sizes = []
        while not acks.acks.empty():
            sizes.append(acks.next().size)
        self.assertEqual(sum(sizes), 20)
        self.assertEqual(max(sizes), 3, "three ~1 KiB events fit in 4 KiB")
        with BatchWriter(server.address, batch_bytes_max=4096) as writer:
            with self.assertRaisesRegex(ValueError, "larger than batch_bytes_max"):
                writer.log_event("too_big", {"blob": "x" * 5000})


class BoundedBufferTest(unittest.TestCase):
    """Nothing answers (no server yet), so the buffer fills."""

    def test_raise_when_full(self) -> None:
        writer = BatchWriter(f"127.0.0.1:{free_port()}", buffer_events_max=5, on_full="raise", backoff_max=0.2)
        try:
            for i in range(5):
                writer.log_revision_trigger(f"r{i}")
            with self.assertRaises(BufferFull):
                writer.log_revision_trigger("one too many")
            self.assertEqual(writer.buffered, 5)
        finally:
            writer.abort()

    def test_byte_bound(self) -> None:
        writer = BatchWriter(f"127.0.0.1:{free_port()}", buffer_bytes_max=3000, on_full="raise", backoff_max=0.2)
        try:
            writer.log_event("t", {"blob": "x" * 1000})
            writer.log_event("t", {"blob": "x" * 1000})
            with self.assertRaises(BufferFull):
                writer.log_event("t", {"blob": "x" * 1000})
        finally:
            writer.abort()

    def test_block_with_timeout(self) -> None:
        writer = BatchWriter(f"127.0.0.1:{free_port()}", buffer_events_max=2, block_timeout=0.2, backoff_max=0.2)
        try:
            writer.log_revision_trigger("a")
            writer.log_revision_trigger("b")
            started = time.monotonic()
            with self.assertRaises(BufferFull):
                writer.log_revision_trigger("c")
            self.assertGreaterEqual(time.monotonic() - started, 0.2)
        finally:
            writer.abort()

    def test_block_until_the_server_comes_up(self) -> None:
        dir = TempDir()
        late = ServerProcess(dir.path / "late.jsonl")
        writer = BatchWriter(late.address, buffer_events_max=5, backoff_max=0.2)
        produced: list = []
        producer = threading.Thread(target=lambda: produced.extend(writer.log_revision_trigger(f"late {i}") for i in range(20)))
        try:
            producer.start()
            producer.join(timeout=0.5)
            self.assertTrue(producer.is_alive(), "log() blocks while the buffer is full")
            self.assertEqual(writer.buffered, 5)
            late.start()
            producer.join(timeout=30)
            self.assertFalse(producer.is_alive())
            writer.close()
            counts = Counter(r["event_id"] for r in read_records(late.log_path))
            self.assertEqual(sorted(counts), sorted(produced))
            self.assertEqual(set(counts.values()), {1})
            self.assertGreaterEqual(writer.stats()["retries"], 1)
        finally:
            writer.abort()  # no-op once closed
            late.stop()
            dir.remove()


class RejectionsTest(unittest.TestCase):
    def test_rejected_events_are_reported_and_the_rest_written(self) -> None:
        seen: list = []
        with BatchWriter(server.address, on_rejected=seen.append) as writer:
            good = [writer.log_revision_trigger("good 1")]
            bad_type = writer.log_event("bad\ntype", {})
            good.append(writer.log_revision_trigger("good 2"))
            bad_id = writer.log_revision_trigger("bad id", event_id="not-a-uuid")
            good.append(writer.log_event("bad_number_is_caught_client_side", {"x": 1}))
            writer.flush()
            self.assertEqual(len(writer.rejected), 2)
        self.assertEqual(seen, writer.rejected)
        by_id = {r.event_id: r for r in writer.rejected}
        self.assertEqual(set(by_id), {bad_type, bad_id})
        for rejection in writer.rejected:
            self.assertIsInstance(rejection, Rejection)
            self.assertEqual(rejection.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("generic.event_type", by_id[bad_type].message)
        self.assertEqual(by_id[bad_type].event.generic.event_type, "bad\ntype")
        self.assertIn("event_id", by_id[bad_id].message)
        records = records_by_id(server.log_path)
        self.assertTrue(all(g in records for g in good))
        self.assertNotIn(bad_type, records)
        self.assertEqual(writer.stats()["rejected"], 2)

    def test_argument_errors_raise_at_once(self) -> None:
        with BatchWriter(server.address) as writer:
            with self.assertRaises(ValueError):
                writer.log_event("", {})
            with self.assertRaises(ValueError):
                writer.log_variable_weight_change("v", float("nan"), 1.0)
            with self.assertRaises(ValueError):
                writer.log_arc_regret({"a": True})
            self.assertEqual(writer.buffered, 0)

    def test_a_failing_callback_does_not_stop_the_writer(self) -> None:
        def explode(_: object) -> None:
            raise RuntimeError("callback bug")

        with self.assertLogs("pulse_learning_log", level="ERROR"):
            with BatchWriter(server.address, on_batch_acked=explode, on_rejected=explode) as writer:
                writer.log_event("bad\n", {})
                writer.flush()
                event_id = writer.log_revision_trigger("after the failing callback")
        self.assertIn(event_id, records_by_id(server.log_path))


class StatusHandlingTest(unittest.TestCase):
    def test_a_fatal_status_surfaces_on_flush_close_and_log(self) -> None:
        def refuse(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no token")
            yield  # pragma: no cover - a generator that never yields

        fake = FakeServer(ingest=refuse)
        writer = BatchWriter(fake.address)
        try:
            writer.log_revision_trigger("refused")
            with self.assertRaises(PermissionDenied) as caught:
                writer.flush(timeout=20)
            self.assertEqual(caught.exception.details, "no token")
            with self.assertRaises(PermissionDenied):
                writer.log_revision_trigger("after the failure")
            with self.assertRaises(PermissionDenied):
                writer.close(timeout=20)
            self.assertEqual(fake.streams, 1, "a fatal status is not retried")
        finally:
            fake.stop()

    def test_an_answer_out_of_order_is_fatal(self) -> None:
        def confused(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            for request in requests:
                yield pb.IngestEventsResponse(batch_id=request.batch_id + 100, count=len(request.events))

        fake = FakeServer(ingest=confused)
        writer = BatchWriter(fake.address)
        try:
            writer.log_revision_trigger("r")
            with self.assertRaises(Internal) as caught:
                writer.flush(timeout=20)
            self.assertIn("expected", caught.exception.details)
        finally:
            writer.abort()
            fake.stop()

    def test_retryable_status_resends_the_unanswered_batches(self) -> None:
        def overloaded_once(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            if stream == 0:
                next(iter(requests))  # read one batch, then refuse it
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
            yield from answer_all(requests, context, stream)

        fake = FakeServer(ingest=overloaded_once)
        try:
            with BatchWriter(fake.address, batch_events_max=5, backoff_initial=0.01) as writer:
                ids = [writer.log_revision_trigger(f"r{i}") for i in range(12)]
                writer.flush(timeout=20)
                self.assertGreaterEqual(writer.stats()["retries"], 1)
            received = Counter(fake.ingested)
            self.assertEqual(set(received), set(ids))
            # The refused batch went again with the same event_ids.
            self.assertTrue(any(n >= 2 for n in received.values()))
            self.assertEqual(writer.stats()["written"], 12)
        finally:
            fake.stop()

    def test_an_unanswered_batch_is_resent_after_ack_timeout(self) -> None:
        def silent_once(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            if stream == 0:
                for _ in requests:  # read, never answer, until the client gives up
                    pass
                return
            yield from answer_all(requests, context, stream)

        fake = FakeServer(ingest=silent_once)
        try:
            with BatchWriter(fake.address, ack_timeout=0.3, backoff_initial=0.01) as writer:
                event_id = writer.log_revision_trigger("answer me")
                writer.flush(timeout=20)
                self.assertGreaterEqual(writer.stats()["retries"], 1)
            self.assertEqual(Counter(fake.ingested)[event_id], 2)
        finally:
            fake.stop()


if __name__ == "__main__":
    unittest.main()
