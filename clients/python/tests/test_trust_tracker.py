"""bayesian_trust_tracker over RPC (pulse.trust.v1.TrustService) against the
real server: the original tracker's methods, numbers equal to the original's
formulas, every change in the log, persistence through files and streams."""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
import unittest

from helpers import ReferenceTracker, ServerProcess, TempDir, assert_close, original_record, read_records, records_by_id, start_server_in_temp_dir

from pulse_learning_log import DecayResult, InvalidArgument, LearningLogClient, LearningLogError, TrustTracker, TrustUpdate

server: ServerProcess
tmp: TempDir
client: LearningLogClient


def setUpModule() -> None:
    global server, tmp, client
    tmp, server = start_server_in_temp_dir()
    client = LearningLogClient(server.address)


def tearDownModule() -> None:
    client.close()
    server.stop()
    tmp.remove()


class TrustTrackerTest(unittest.TestCase):
    tracker: TrustTracker

    def setUp(self) -> None:
        self.tracker = client.trust
        self.ref = ReferenceTracker()

    def update(self, key: str, success: bool, weight: float = 1.0) -> TrustUpdate:
        self.ref.update(key, success, weight)
        return self.tracker.update(key, success, weight)

    def assert_matches_reference(self, key: str) -> None:
        t, ref = self.tracker, self.ref
        self.assertAlmostEqual(t.get_trust(key), ref.get_trust(key), places=12)
        for z in (1.96, 1.0, 3.0):
            lo, hi = t.get_confidence_interval(key, z=z)
            want_lo, want_hi = ref.get_confidence_interval(key, z)
            self.assertAlmostEqual(lo, want_lo, places=12)
            self.assertAlmostEqual(hi, want_hi, places=12)
        self.assertIsInstance(t.get_confidence_interval(key), tuple)
        self.assertAlmostEqual(t.get_confidence_strength(key), ref.get_confidence_strength(key), places=12)
        self.assertEqual(t.get_sample_size(key), ref.get_sample_size(key))
        self.assertIsInstance(t.get_sample_size(key), int)
        stats = t.get_stats(key)
        alpha, beta = ref.stats.get(key, (1, 1))
        self.assertEqual((stats["alpha"], stats["beta"]), (alpha, beta))
        self.assertEqual(stats["key"], key)

    def test_update_and_reads_follow_the_original_formulas(self) -> None:
        result = self.update("tt_update", True)
        self.assertIsInstance(result, TrustUpdate)
        self.assertEqual(result.stats["alpha"], 2.0)
        for success, weight in ((False, 0.5), (True, 2.5), (False, 1.0), (True, 1.0)):
            self.update("tt_update", success, weight)
        self.assert_matches_reference("tt_update")
        self.assertIsNotNone(self.tracker.get_stats("tt_update")["last_update"])
        self.assertLess(self.tracker.get_time_since_update("tt_update"), 60)

    def test_unknown_key_is_the_prior(self) -> None:
        self.assert_matches_reference("tt_never_seen")
        self.assertEqual(self.tracker.get_trust("tt_never_seen"), 0.5)
        self.assertIsNone(self.tracker.get_stats("tt_never_seen")["last_update"])
        self.assertEqual(self.tracker.get_time_since_update("tt_never_seen"), math.inf)

    def test_every_update_is_in_the_log(self) -> None:
        result = self.update("tt_audited", False, 0.25)
        by_seq = {r["seq"]: r for r in read_records(server.log_path)}
        self.assertIn(result.seq, by_seq)
        self.assertIn("tt_audited", json.dumps(by_seq[result.seq]["data"]))

    def test_batch_update_in_both_forms(self) -> None:
        result = self.tracker.batch_update([("tt_batch_a", True), ("tt_batch_b", False, 2.0), ("tt_batch_a", True, 0.5)])
        for key, success, weight in (("tt_batch_a", True, 1.0), ("tt_batch_b", False, 2.0), ("tt_batch_a", True, 0.5)):
            self.ref.update(key, success, weight)
        self.assertEqual(sorted(result.stats), ["tt_batch_a", "tt_batch_b"])
        self.assertEqual(result.stats["tt_batch_a"]["alpha"], 2.5)
        # The original tracker's own form: key -> [(success, weight), ...].
        self.tracker.batch_update({"tt_batch_b": [(True, 1.0), (False, 0.5)], "tt_batch_c": [(True, 3.0)]})
        for key, success, weight in (("tt_batch_b", True, 1.0), ("tt_batch_b", False, 0.5), ("tt_batch_c", True, 3.0)):
            self.ref.update(key, success, weight)
        for key in ("tt_batch_a", "tt_batch_b", "tt_batch_c"):
            self.assert_matches_reference(key)

    def test_batch_update_is_all_or_nothing(self) -> None:
        self.update("tt_atomic", True)
        with self.assertRaises(InvalidArgument) as caught:
            self.tracker.batch_update([("tt_atomic", True), ("tt_atomic", True, -1.0)])
        self.assertIn("outcomes[1]", caught.exception.details)
        self.assert_matches_reference("tt_atomic")

    def test_decay(self) -> None:
        for _ in range(6):
            self.update("tt_decay", True, 2.0)
        self.update("tt_decay", False, 1.0)
        self.update("tt_small", True, 0.5)
        result = self.tracker.apply_decay("tt_decay", decay_factor=0.5, min_count=5)
        self.assertIsInstance(result, DecayResult)
        self.assertEqual(result.keys_decayed, 1)
        self.ref.apply_decay("tt_decay", 0.5, 5)
        self.assert_matches_reference("tt_decay")
        # Below min_count nothing changes.
        self.assertEqual(self.tracker.apply_decay("tt_small", decay_factor=0.5, min_count=5).keys_decayed, 0)
        self.assert_matches_reference("tt_small")
        # Global decay touches every key above min_count (here: by default 5).
        before = {k: self.tracker.get_stats(k) for k in ("tt_decay", "tt_small")}
        result = self.tracker.apply_global_decay(decay_factor=0.9)
        self.assertGreaterEqual(result.keys_decayed, 1)
        after = self.tracker.get_stats("tt_decay")
        self.assertAlmostEqual(after["alpha"], max(1, before["tt_decay"]["alpha"] * 0.9), places=12)
        self.assertEqual(self.tracker.get_stats("tt_small"), before["tt_small"])

    def test_generate_report(self) -> None:
        self.tracker.batch_update([("tt_report_high", True)] * 20 + [("tt_report_low", False)] * 20 + [("tt_report_mid", True), ("tt_report_mid", False)] * 5)
        report = self.tracker.generate_report(min_samples=10)
        self.assertEqual(set(report), {"summary", "high_trust", "low_trust"})
        high = [e["key"] for e in report["high_trust"]]
        low = [e["key"] for e in report["low_trust"]]
        self.assertIn("tt_report_high", high)
        self.assertIn("tt_report_low", low)
        self.assertNotIn("tt_report_mid", high + low)
        self.assertEqual([e["trust"] for e in report["high_trust"]], sorted((e["trust"] for e in report["high_trust"]), reverse=True))
        self.assertTrue(all(e["sample_size"] >= 10 for e in report["high_trust"] + report["low_trust"]))
        self.assertEqual(report["summary"]["high_trust_count"], len(high))
        # Thresholds are options.
        strict = self.tracker.generate_report(min_samples=10, high_threshold=0.99, low_threshold=0.01)
        self.assertNotIn("tt_report_high", [e["key"] for e in strict["high_trust"]])

    def test_log_bayesian_trust_metrics_of_an_updated_key(self) -> None:
        for success, weight in ((True, 1.0), (False, 0.5), (True, 1.0)):
            self.update("tt_logged", success, weight)
        with contextlib.redirect_stdout(io.StringIO()):
            ack = client.log_bayesian_trust_metrics("tt_logged", "rule")
        record = records_by_id(server.log_path)[ack.event_id]
        expected = original_record("log_bayesian_trust_metrics", "tt_logged", "rule", tracker=self.ref)
        self.assertEqual(record["event_type"], expected["event_type"])
        assert_close(self, record["data"], expected["data"])

    def test_trust_report_through_the_client_lists_the_keys(self) -> None:
        self.tracker.batch_update([("tt_client_report", True)] * 30)
        report = client.generate_trust_report(min_samples=30)
        self.assertIn("tt_client_report", [e["key"] for e in report["high_trust"]])
        record = read_records(server.log_path)[-1]
        self.assertEqual(record["event_type"], "trust_report_generated")
        self.assertEqual(record["data"]["high_trust_count"], len(report["high_trust"]))

    def test_files_round_trip(self) -> None:
        self.update("tt_file", True, 3.0)
        exported = self.tracker.export_to_file("tracker/state.json")
        self.assertEqual(exported.path, "tracker/state.json")
        self.assertGreaterEqual(exported.key_count, 1)
        # The original module's JSON format.
        state = json.loads((server.trust_dir / "tracker" / "state.json").read_text())
        self.assertEqual(state["stats"]["tt_file"], [4.0, 1.0])
        self.update("tt_file", False, 5.0)
        self.assertTrue(self.tracker.import_from_file("tracker/state.json"))
        self.assertEqual(self.tracker.get_stats("tt_file")["alpha"], 4.0)
        self.assertEqual(self.tracker.get_stats("tt_file")["beta"], 1.0)
        self.assertIs(self.tracker.import_from_file("tracker/missing.json"), False)
        with self.assertRaises(LearningLogError):
            self.tracker.export_to_file("../outside.json")

    def test_records_round_trip(self) -> None:
        self.update("tt_records", True, 1.0)
        self.update("tt_records", False, 2.0)
        records = self.tracker.export_records()
        mine = next(r for r in records if r["key"] == "tt_records")
        self.assertEqual((mine["alpha"], mine["beta"]), (2.0, 3.0))
        self.assertEqual(len(mine["history"]), 2)
        self.assertEqual([r["key"] for r in records], sorted(r["key"] for r in records))
        changed = dict(mine, alpha=7.0, history=[(time.time(), 0.7)])
        self.assertEqual(self.tracker.import_records([changed], merge=True), 1)
        self.assertEqual(self.tracker.get_stats("tt_records")["alpha"], 7.0)
        # Merge kept the other keys.
        self.assertGreater(len(self.tracker.export_records()), 1)


if __name__ == "__main__":
    unittest.main()
