"""``pulse_learning_log.aio``: the client, its trust tracker and the
BatchWriter as coroutines over grpc.aio, each test inside a running event
loop (IsolatedAsyncioTestCase), against the real server, and the fake one
for what the real server cannot be made to do."""

from __future__ import annotations

import unittest
from collections import Counter
from typing import List

import grpc
from fake_server import FakeServer, break_first_stream, never_answer
from helpers import ServerProcess, TempDir, original_record, read_lines, records_by_id, start_server_in_temp_dir

from pulse_learning_log import (
    Ack,
    BatchAck,
    BufferFull,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    Rejection,
    TrustMetricsAck,
    Unavailable,
)
from pulse_learning_log.aio import BatchWriter, LearningLogClient
from pulse_learning_log.diagnostics import forget_redactions

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


class AsyncClientTest(unittest.IsolatedAsyncioTestCase):
    async def test_log_methods_write_the_originals_records_and_return_acks(self) -> None:
        calls = [
            ("log_variable_weight_change", ("hope", 1.0, 1.2)),
            ("log_symbolic_upgrade", ({"hope": "+0.1"},)),
            ("log_revision_trigger", ("fragmentation > threshold",)),
            ("log_arc_regret", ({"arc_hope": 0.04},)),
            ("log_learning_summary", ({"summary": "s"},)),
            ("log_rule_activation", ("R001", "hope", "success", "F1", True)),
            ("log_event", ("custom", {"k": [1, 2]}, {"ctx": "c"})),
        ]
        async with LearningLogClient(server.address) as client:
            for name, args in calls:
                with self.subTest(name=name):
                    ack = await getattr(client, name)(*args)
                    self.assertIsInstance(ack, Ack)
                    record = records_by_id(server.log_path)[ack.event_id]
                    expected = original_record(name, *args)
                    self.assertEqual((record["event_type"], record["data"]), (expected["event_type"], expected["data"]))
                    self.assertEqual((record["seq"], record["timestamp"]), (ack.seq, ack.timestamp))
            with self.assertLogs("pulse_learning_log", "INFO") as logged:
                metrics = await client.log_bayesian_trust_metrics("aio_key", "rule")
            self.assertIsInstance(metrics, TrustMetricsAck)
            self.assertTrue(logged.records[0].getMessage().startswith("[BayesianTrust] rule=aio_key trust=0.500"))
            report = await client.generate_trust_report(min_samples=0)
            assert report is not None
            self.assertIn("summary", report)
            self.assertTrue(await client.export_trust_data("aio-trust.json"))
            self.assertTrue(await client.import_trust_data("aio-trust.json"))
            self.assertFalse(await client.import_trust_data("missing.json"))

    async def test_refusals_are_typed_with_their_field_violations(self) -> None:
        before = len(read_lines(server.log_path))
        async with LearningLogClient(server.address) as client:
            with self.assertRaises(InvalidArgument) as caught:
                await client.log_event("line\nbreak", {"a": 1})
        self.assertTrue(caught.exception.details.startswith("event_type:"), caught.exception.details)
        self.assertEqual(caught.exception.field_violations[0].field, "event_type")
        self.assertIsInstance(caught.exception.field_violations[0], FieldViolation)
        self.assertEqual(len(read_lines(server.log_path)), before)

    async def test_quiet_logs_and_returns_none(self) -> None:
        async with LearningLogClient(server.address, quiet=True) as client:
            with self.assertLogs("pulse_learning_log", "ERROR") as logged:
                self.assertIsNone(await client.log_event("line\nbreak", {}))
            self.assertTrue(logged.records[0].getMessage().startswith("[LearningLog] Failed to log event: INVALID_ARGUMENT"))

    async def test_one_deadline_for_all_attempts(self) -> None:
        fake = FakeServer(unary_hangs=True)
        try:
            async with LearningLogClient(fake.address, timeout=0.5, retry_attempts=4) as client:
                with self.assertRaises(DeadlineExceeded):
                    await client.log_event("silence", {})
            self.assertEqual(len(fake.logged), 1)
        finally:
            fake.stop()

    async def test_unavailable_is_retried_then_raised(self) -> None:
        fake = FakeServer(unary_status=grpc.StatusCode.UNAVAILABLE)
        try:
            async with LearningLogClient(fake.address, retry_attempts=3) as client:
                with self.assertRaises(Unavailable):
                    await client.log_event("down", {})
            self.assertEqual(len(fake.logged), 3)
            self.assertEqual(len(set(fake.logged)), 1, "the same event_id each time")
        finally:
            fake.stop()

    async def test_the_trust_tracker(self) -> None:
        async with LearningLogClient(server.address) as client:
            tracker = client.trust
            update = await tracker.update("aio_rule", True, 2.0)
            assert update is not None
            self.assertEqual(update.stats["alpha"], 3.0)
            batch = await tracker.batch_update([("aio_rule", False), ("aio_other", True, 0.5)])
            assert batch is not None
            self.assertEqual(sorted(batch.stats), ["aio_other", "aio_rule"])
            self.assertAlmostEqual(await tracker.get_trust("aio_rule"), 3 / 5)
            self.assertEqual(await tracker.get_sample_size("aio_rule"), 3)
            lower, upper = await tracker.get_confidence_interval("aio_rule")
            self.assertLess(lower, upper)
            self.assertEqual([s["key"] for s in await tracker.get_metrics(["aio_rule", "aio_other"])], ["aio_rule", "aio_other"])
            records = await tracker.export_records()
            self.assertIn("aio_rule", [r["key"] for r in records])
            self.assertEqual(await tracker.import_records(records, merge=True), len(records))
            decay = await tracker.apply_decay("aio_rule", 0.5, 0)
            assert decay is not None
            self.assertEqual(decay.keys_decayed, 1)
            with self.assertRaises(ValueError):
                await tracker.update(17, True)  # type: ignore[arg-type]

    async def test_a_redacted_field_is_warned_about_once_per_path(self) -> None:
        forget_redactions()
        async with LearningLogClient(server.address) as client:
            with self.assertLogs("pulse_learning_log", "WARNING") as logged:
                first = await client.log_event("contact", {"email": "someone@example.com"})
                again = await client.log_event("contact", {"email": "other@example.com"})
        assert first is not None and again is not None
        self.assertEqual(first.redacted_fields, ("data.email",))
        warnings = [r.getMessage() for r in logged.records if r.levelname == "WARNING"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("data.email", warnings[0])
        self.assertNotIn("someone@example.com", warnings[0], "the value is never logged")


class AsyncBatchWriterTest(unittest.IsolatedAsyncioTestCase):
    async def test_async_with_makes_everything_durable(self) -> None:
        async with BatchWriter(server.address, batch_events_max=100) as writer:
            ids = [await writer.log_variable_weight_change("aio_w", 0.0, float(i)) for i in range(1050)]
            await writer.flush()
            self.assertEqual(writer.stats()["written"], 1050)
            late = await writer.log_revision_trigger("logged after the flush")
        # close() (leaving the block) flushed the last one too.
        by_id = records_by_id(server.log_path)
        self.assertTrue(set(ids) <= set(by_id))
        self.assertIn(late, by_id)
        self.assertEqual(by_id[ids[3]]["data"], {"variable": "aio_w", "from": 0, "to": 3})

    async def test_rejections_are_reported_and_the_rest_written(self) -> None:
        rejected: List[Rejection] = []
        with self.assertLogs("pulse_learning_log", "ERROR"):
            async with BatchWriter(server.address, on_rejected=rejected.append) as writer:
                bad = await writer.log_event("bad\n", {})
                good = await writer.log_revision_trigger("fine")
        self.assertEqual([r.event_id for r in rejected], [bad])
        self.assertEqual(rejected[0].code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn(good, records_by_id(server.log_path))

    async def test_redactions_reach_the_batch_ack_and_a_warning(self) -> None:
        forget_redactions()
        acks: List[BatchAck] = []
        with self.assertLogs("pulse_learning_log", "WARNING") as logged:
            async with BatchWriter(server.address, on_batch_acked=acks.append) as writer:
                plain = await writer.log_revision_trigger("plain")
                contact = await writer.log_event("contact", {"email": "someone@example.com"})
        self.assertEqual([r for a in acks for r in a.redactions], [(contact, ("data.email",))])
        self.assertEqual(acks[-1].timestamp, records_by_id(server.log_path)[contact]["timestamp"])
        self.assertIn(plain, records_by_id(server.log_path))
        warnings = [r.getMessage() for r in logged.records if r.levelname == "WARNING"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("data.email of a contact event", warnings[0])

    async def test_a_broken_stream_is_resent_with_the_same_event_ids(self) -> None:
        fake = FakeServer(ingest=break_first_stream(grpc.StatusCode.UNAVAILABLE))
        try:
            async with BatchWriter(fake.address, backoff_initial=0.01) as writer:
                ids = [await writer.log_revision_trigger(f"r{i}") for i in range(10)]
                await writer.flush(timeout=30)
                self.assertGreaterEqual(writer.stats()["retries"], 1)
            received = Counter(fake.ingested)
            self.assertEqual(set(received), set(ids))
            self.assertTrue(any(n == 2 for n in received.values()), "the unanswered batch went again")
            self.assertEqual(fake.streams, 2)
        finally:
            fake.stop()

    async def test_a_fatal_status_surfaces_and_drops_are_reported(self) -> None:
        def refuse(requests: object, context: grpc.ServicerContext, stream: int) -> object:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no token")
            yield  # pragma: no cover - a generator that never yields

        dropped: List[Rejection] = []
        fake = FakeServer(ingest=refuse)
        try:
            writer = BatchWriter(fake.address, on_dropped=dropped.append)
            event_id = await writer.log_revision_trigger("refused")
            with self.assertLogs("pulse_learning_log", "ERROR"):
                with self.assertRaises(PermissionDenied):
                    await writer.flush(timeout=30)
            with self.assertRaises(PermissionDenied):
                await writer.log_revision_trigger("after the failure")
            with self.assertRaises(PermissionDenied):
                await writer.close()
            self.assertEqual([d.event_id for d in dropped], [event_id])
            self.assertEqual(fake.streams, 1, "a fatal status is not retried")
        finally:
            fake.stop()

    async def test_a_full_buffer_raises_or_blocks_until_block_timeout(self) -> None:
        fake = FakeServer(ingest=never_answer)
        try:
            for options in ({"on_full": "raise"}, {"block_timeout": 0.2}):
                with self.subTest(**options):
                    writer = BatchWriter(fake.address, buffer_events_max=3, **options)  # type: ignore[arg-type]
                    for i in range(3):
                        await writer.log_revision_trigger(f"r{i}")
                    with self.assertRaises(BufferFull):
                        await writer.log_revision_trigger("one too many")
                    with self.assertRaises(TimeoutError):
                        await writer.flush(timeout=0.2)
                    with self.assertLogs("pulse_learning_log", "ERROR") as logged:
                        await writer.abort()
                    self.assertIn("gave up 3 events", logged.records[0].getMessage())
                    self.assertEqual(writer.stats()["dropped"], 3)
        finally:
            fake.stop()


if __name__ == "__main__":
    unittest.main()
