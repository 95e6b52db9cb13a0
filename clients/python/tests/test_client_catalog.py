"""Every method of LearningLogClient writes exactly the record the original
module wrote: same event_type, same data field by field, context only when
non-empty, keys in the contract's order, and the Ack names the durable record."""

from __future__ import annotations

import json
import unittest
from datetime import datetime

from helpers import ReferenceTracker, ServerProcess, TIMESTAMP, TempDir, UUID4, assert_close, original_record, read_lines, records_by_id, start_server_in_temp_dir

from pulse_learning_log import Ack, LearningLogClient, TrustMetricsAck

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


class CatalogRecordsTest(unittest.TestCase):
    client: LearningLogClient

    @classmethod
    def setUpClass(cls) -> None:
        cls.client = LearningLogClient(server.address)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()

    def written(self, ack: Ack) -> dict:
        """The record the ack names, checked against the record contract."""
        self.assertIsInstance(ack, (Ack, TrustMetricsAck))
        self.assertRegex(ack.event_id, UUID4)
        self.assertRegex(ack.timestamp, TIMESTAMP)
        self.assertFalse(ack.duplicate)
        line = next(line for line in read_lines(server.log_path) if ack.event_id in line)
        record = json.loads(line)
        keys = list(record)
        expected_keys = ["event_id", "timestamp", "event_type", "data"] + (["context"] if "context" in record else []) + ["seq"]
        self.assertEqual(keys[: len(expected_keys)], expected_keys, "record keys in the contract's order")
        self.assertEqual(record["event_id"], ack.event_id)
        self.assertEqual(record["timestamp"], ack.timestamp)
        self.assertEqual(record["seq"], ack.seq)
        return record

    def check(self, method: str, *args: object, tracker: ReferenceTracker = None) -> dict:
        """Calls the client's method and compares the record with the original's."""
        ack = getattr(self.client, method)(*args)
        record = self.written(ack)
        expected = original_record(method, *args, tracker=tracker)
        self.assertEqual(record["event_type"], expected["event_type"])
        data = dict(record["data"])
        if method == "log_rule_effectiveness":
            data.pop("timestamp")  # the time of the call: checked by its test
        assert_close(self, data, expected["data"])
        if "context" in expected:
            self.assertEqual(record["context"], expected["context"])
        else:
            self.assertNotIn("context", record)
        return record

    def test_log_event_with_context(self) -> None:
        self.check("log_event", "custom_event", {"a": 1, "b": "two", "nested": {"list": [1, 2.5, None, True, "x"]}}, {"run": "r1", "step": 3})

    def test_log_event_without_or_with_empty_context(self) -> None:
        self.check("log_event", "custom_event", {"a": 1})
        self.check("log_event", "custom_event", {"a": 1}, {})

    def test_log_event_json_values_round_trip(self) -> None:
        data = {
            "int": 42,
            "negative": -7,
            "big": 2**53,
            "float": 0.1,
            "tiny": 5e-324,
            "bools": [True, False],
            "none": None,
            "empty_obj": {},
            "empty_list": [],
            "tuple": (1, 2),
            "unicode": "héllo \u2028 \u2029 \u0085 \U0001f600 \"quoted\" back\\slash\nnewline",
            "deep": {"a": {"b": {"c": {"d": [{"e": 1}]}}}},
        }
        record = self.check("log_event", "json_values", data)
        # Tuples are written as lists, as json.dumps wrote them.
        self.assertEqual(record["data"]["tuple"], [1, 2])

    def test_non_string_keys_become_strings_as_in_json_dumps(self) -> None:
        ack = self.client.log_event("keys", {1: "int", 2.5: "float", True: "bool", None: "none"})
        record = self.written(ack)
        self.assertEqual(record["data"], json.loads(json.dumps({1: "int", 2.5: "float", True: "bool", None: "none"})))

    def test_line_separators_stay_inside_one_line(self) -> None:
        ack = self.client.log_event("separators", {"text": "a\u2028b\u2029c\u0085d\re"})
        lines = [line for line in read_lines(server.log_path) if ack.event_id in line]
        self.assertEqual(len(lines), 1)
        # Python's splitlines() must not split the record either.
        self.assertEqual(len(lines[0].splitlines()), 1)
        self.assertEqual(json.loads(lines[0])["data"]["text"], "a\u2028b\u2029c\u0085d\re")

    def test_log_variable_weight_change(self) -> None:
        self.check("log_variable_weight_change", "hope", 1.0, 1.2)
        self.check("log_variable_weight_change", "despair", 1, -3)

    def test_log_symbolic_upgrade(self) -> None:
        self.check("log_symbolic_upgrade", {"hope": "+0.1", "despair": "-0.2"})

    def test_log_revision_trigger(self) -> None:
        self.check("log_revision_trigger", "fragmentation > threshold")

    def test_log_arc_regret(self) -> None:
        self.check("log_arc_regret", {"arc_hope": 0.04, "arc_despair": 0.91, "arc_int": 2})

    def test_log_learning_summary(self) -> None:
        self.check("log_learning_summary", {"summary": "test summary", "epochs": 3})

    def test_log_rule_activation(self) -> None:
        self.check("log_rule_activation", "R001", "hope", "success")
        self.check("log_rule_activation", "R002", "despair", {"label": "failure", "score": 0.3}, "F-17", False)
        self.check("log_rule_activation", "R003", "hope", 7, None, True)
        self.check("log_rule_activation", "R004", "hope", None, "F-18")

    def test_log_bayesian_trust_metrics_of_an_unknown_key_is_the_prior(self) -> None:
        with self.assertLogs("pulse_learning_log", "INFO") as logged:
            ack = self.client.log_bayesian_trust_metrics("never_updated_key", "rule")
        self.assertIsInstance(ack, TrustMetricsAck)
        record = self.written(ack)
        expected = original_record("log_bayesian_trust_metrics", "never_updated_key", "rule")
        self.assertEqual(record["event_type"], expected["event_type"])
        assert_close(self, record["data"], expected["data"])
        # The metrics returned are the ones logged.
        self.assertEqual(ack.metrics["trust"], record["data"]["trust"])
        self.assertEqual(list(ack.metrics["confidence_interval"]), record["data"]["confidence_interval"])
        # The original printed this line too; here it is logged (INFO).
        self.assertEqual(
            [r.getMessage() for r in logged.records],
            [
                f"[BayesianTrust] rule=never_updated_key trust=0.500 CI={ack.metrics['confidence_interval']} "
                f"confidence={expected['data']['confidence_strength']:.3f} samples=0"
            ],
        )
        self.assertEqual(logged.records[0].levelname, "INFO")

    def test_log_bayesian_trust_metrics_default_kind_is_variable(self) -> None:
        record = self.written(self.client.log_bayesian_trust_metrics("some_variable"))
        self.assertEqual(record["data"]["kind"], "variable")

    def test_log_rule_effectiveness(self) -> None:
        record = self.check("log_rule_effectiveness", "R001", 10, 0.8, 0.5)
        # The original wrote the call's time inside data as well, in the same format.
        stamp = record["data"]["timestamp"]
        self.assertRegex(stamp, TIMESTAMP)
        delta = abs((datetime.fromisoformat(stamp) - datetime.fromisoformat(record["timestamp"])).total_seconds())
        self.assertLess(delta, 5)

    def test_ack_names_the_fields_the_server_redacted(self) -> None:
        ack = self.client.log_event("pii", {"note": "fine", "user_email": "someone@example.com"})
        record = self.written(ack)
        self.assertTrue(any("user_email" in path for path in ack.redacted_fields), ack.redacted_fields)
        self.assertNotIn("someone@example.com", json.dumps(record))
        self.assertEqual(record["data"]["note"], "fine")

    def test_seq_increases_and_event_ids_are_unique(self) -> None:
        acks = [self.client.log_revision_trigger(f"r{i}") for i in range(5)]
        seqs = [a.seq for a in acks]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), 5)
        self.assertEqual(len({a.event_id for a in acks}), 5)

    def test_caller_event_id_is_written_once(self) -> None:
        event_id = "3f1c2a9e-5b7d-4c1e-9a2b-0d6e8f4a1c3b"
        first = self.client.log_revision_trigger("idempotent", event_id=event_id)
        again = self.client.log_revision_trigger("idempotent", event_id=event_id)
        self.assertEqual(first.event_id, event_id)
        self.assertTrue(again.duplicate)
        self.assertEqual((again.seq, again.timestamp), (first.seq, first.timestamp))
        self.assertEqual(sum(1 for line in read_lines(server.log_path) if event_id in line), 1)

    def test_generate_trust_report_logs_its_summary(self) -> None:
        report = self.client.generate_trust_report(min_samples=0)
        self.assertEqual(set(report), {"summary", "high_trust", "low_trust"})
        self.assertEqual(report["summary"]["min_samples"], 0)
        records = [r for r in records_by_id(server.log_path).values() if r["event_type"] == "trust_report_generated"]
        record = records[-1]
        # What the original wrote: the report's summary and the two list lengths.
        assert_close(
            self,
            record["data"],
            {"summary": report["summary"], "high_trust_count": len(report["high_trust"]), "low_trust_count": len(report["low_trust"])},
        )

    def test_import_of_a_missing_file_returns_false_and_logs_the_failure(self) -> None:
        self.assertIs(self.client.import_trust_data("does_not_exist.json"), False)
        record = list(records_by_id(server.log_path).values())[-1]
        self.assertEqual(record["event_type"], "trust_data_import_failed")
        self.assertEqual(record["data"], {"filepath": "does_not_exist.json"})


class TrustFilesTest(unittest.TestCase):
    """export_trust_data / import_trust_data round trip through the server's trust directory."""

    def test_export_then_import(self) -> None:
        with LearningLogClient(server.address) as client:
            self.assertIs(client.export_trust_data("exports/state.json"), True, "export must succeed")
            record = list(records_by_id(server.log_path).values())[-1]
            self.assertEqual((record["event_type"], record["data"]), ("trust_data_exported", {"filepath": "exports/state.json"}))
            exported = json.loads((server.trust_dir / "exports" / "state.json").read_text())
            self.assertEqual(set(exported) >= {"stats", "last_update", "timestamps", "export_time"}, True)

            self.assertIs(client.import_trust_data("exports/state.json"), True)
            record = list(records_by_id(server.log_path).values())[-1]
            self.assertEqual((record["event_type"], record["data"]), ("trust_data_imported", {"filepath": "exports/state.json"}))

    def test_a_path_outside_the_trust_directory_is_refused(self) -> None:
        from pulse_learning_log import LearningLogError

        before = len(read_lines(server.log_path))
        with LearningLogClient(server.address) as client:
            with self.assertRaises(LearningLogError) as caught:
                client.export_trust_data("../escape.json")
        self.assertEqual(caught.exception.code.name, "INVALID_ARGUMENT")
        self.assertIn("filepath", caught.exception.details)
        self.assertEqual(len(read_lines(server.log_path)), before, "a refused request writes nothing")


if __name__ == "__main__":
    unittest.main()
