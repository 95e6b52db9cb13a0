"""The module-level functions, exactly like the original module's: one import
switches a Pulse process over, the default client is created on first use
from PULSE_LEARNING_LOG_ADDR, and quiet mode can be set module-wide."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import subprocess
import sys
import textwrap
import unittest

from helpers import ReferenceTracker, ServerProcess, TempDir, assert_close, free_port, original_record, read_lines, read_records, records_by_id, start_server_in_temp_dir

import pulse_learning_log
from pulse_learning_log import Unavailable

server: ServerProcess
tmp: TempDir


def setUpModule() -> None:
    global server, tmp
    tmp, server = start_server_in_temp_dir()


def tearDownModule() -> None:
    pulse_learning_log.close()
    server.stop()
    tmp.remove()


class DefaultClientTest(unittest.TestCase):
    def setUp(self) -> None:
        self._saved = os.environ.get("PULSE_LEARNING_LOG_ADDR")
        os.environ["PULSE_LEARNING_LOG_ADDR"] = server.address
        pulse_learning_log.configure()  # defaults: the address comes from the environment

    def tearDown(self) -> None:
        pulse_learning_log.set_quiet(False)
        pulse_learning_log.close()
        if self._saved is None:
            os.environ.pop("PULSE_LEARNING_LOG_ADDR", None)
        else:
            os.environ["PULSE_LEARNING_LOG_ADDR"] = self._saved
        pulse_learning_log.configure()

    def test_every_module_function_writes_the_original_record(self) -> None:
        calls = [
            ("log_variable_weight_change", ("hope", 1.0, 1.2)),
            ("log_symbolic_upgrade", ({"hope": "+0.1", "despair": "-0.2"},)),
            ("log_revision_trigger", ("fragmentation > threshold",)),
            ("log_arc_regret", ({"arc_hope": 0.04, "arc_despair": 0.91},)),
            ("log_learning_summary", ({"summary": "test summary"},)),
            ("log_rule_activation", ("R001", "hope", "success", "F1", True)),
        ]
        for name, args in calls:
            with self.subTest(name=name):
                ack = getattr(pulse_learning_log, name)(*args)
                record = records_by_id(server.log_path)[ack.event_id]
                expected = original_record(name, *args)
                self.assertEqual(record["event_type"], expected["event_type"])
                assert_close(self, record["data"], expected["data"])

        for name in ("log_learning_event", "log_event"):
            with self.subTest(name=name):
                ack = getattr(pulse_learning_log, name)("custom", {"k": [1, 2]}, {"ctx": "c"})
                record = records_by_id(server.log_path)[ack.event_id]
                self.assertEqual((record["event_type"], record["data"], record["context"]), ("custom", {"k": [1, 2]}, {"ctx": "c"}))

        ack = pulse_learning_log.log_rule_effectiveness("R001", 10, 0.8, 0.5)
        data = records_by_id(server.log_path)[ack.event_id]["data"]
        self.assertEqual({k: data[k] for k in ("rule_id", "activation_count", "success_rate", "impact_score")}, {"rule_id": "R001", "activation_count": 10, "success_rate": 0.8, "impact_score": 0.5})

        with contextlib.redirect_stdout(io.StringIO()):
            ack = pulse_learning_log.log_bayesian_trust_metrics("module_level_key")
        self.assertEqual(records_by_id(server.log_path)[ack.event_id]["event_type"], "bayesian_trust_metrics")

        report = pulse_learning_log.generate_trust_report(0)
        self.assertEqual(report["summary"]["min_samples"], 0)
        self.assertEqual(read_records(server.log_path)[-1]["event_type"], "trust_report_generated")
        self.assertIs(pulse_learning_log.import_trust_data("missing.json"), False)
        self.assertEqual(read_records(server.log_path)[-1]["event_type"], "trust_data_import_failed")

    def test_one_default_client_created_on_first_use(self) -> None:
        first = pulse_learning_log.get_client()
        self.assertIs(pulse_learning_log.get_client(), first)
        self.assertIs(pulse_learning_log.PulseLearningLogger(), first)
        self.assertEqual(first.target, server.address)

    def test_configure_switches_the_target_without_connecting(self) -> None:
        # Nothing listens there: configuring succeeds, the first call fails.
        pulse_learning_log.configure(f"127.0.0.1:{free_port()}", retry_attempts=1)
        with self.assertRaises(Unavailable):
            pulse_learning_log.log_revision_trigger("nobody listens")
        with self.assertRaises(Unavailable):
            pulse_learning_log.bayesian_trust_tracker.get_trust("k")
        pulse_learning_log.configure(server.address)
        ack = pulse_learning_log.log_revision_trigger("back")
        self.assertIn(ack.event_id, records_by_id(server.log_path))

    def test_set_quiet_module_wide(self) -> None:
        pulse_learning_log.configure(f"127.0.0.1:{free_port()}", retry_attempts=1)
        pulse_learning_log.set_quiet(True)
        with self.assertLogs("pulse_learning_log", "ERROR") as logged:
            self.assertIsNone(pulse_learning_log.log_learning_event("t", {"a": 1}))
            self.assertIs(pulse_learning_log.export_trust_data("x.json"), False)
            self.assertIsNone(pulse_learning_log.bayesian_trust_tracker.update("k", True))
        self.assertEqual(len(logged.records), 3)
        self.assertTrue(pulse_learning_log.bayesian_trust_tracker.quiet)
        pulse_learning_log.set_quiet(False)
        with self.assertRaises(Unavailable):
            pulse_learning_log.log_learning_event("t", {"a": 1})


def run_script(script: str, **env: str) -> subprocess.CompletedProcess:
    """Runs a Python script in a fresh interpreter (this one), with the test's module path."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


class DropInTest(unittest.TestCase):
    def test_the_originals_own_self_test_runs_unchanged_after_the_import_switch(self) -> None:
        # The original module's _test_logging(), with only its imports
        # changed, in a program that shows INFO logs on stdout (the
        # [BayesianTrust] echo is logged, not printed).
        script = """
            import logging, sys
            logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
            from pulse_learning_log import (
                bayesian_trust_tracker, export_trust_data, generate_trust_report, import_trust_data,
                log_arc_regret, log_bayesian_trust_metrics, log_learning_summary, log_revision_trigger,
                log_rule_effectiveness, log_symbolic_upgrade, log_variable_weight_change,
            )
            log_variable_weight_change("hope", 1.0, 1.2)
            log_revision_trigger("fragmentation > threshold")
            log_symbolic_upgrade({"hope": "+0.1", "despair": "-0.2"})
            log_arc_regret({"arc_hope": 0.04, "arc_despair": 0.91})
            log_learning_summary({"summary": "test summary"})
            bayesian_trust_tracker.update("test_variable", True, 1.0)
            bayesian_trust_tracker.update("test_variable", False, 0.5)
            bayesian_trust_tracker.update("test_variable", True, 1.0)
            log_bayesian_trust_metrics("test_variable", "variable")
            log_rule_effectiveness("R001", 10, 0.8, 0.5)
            report = generate_trust_report()
            print(f"Trust report generated with {len(report['high_trust'])} high trust entities")
            print(export_trust_data("trust_data_test.json"), import_trust_data("trust_data_test.json"))
        """
        before = len(read_lines(server.log_path))
        done = run_script(script, PULSE_LEARNING_LOG_ADDR=server.address)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        ref = ReferenceTracker()
        for success, weight in ((True, 1.0), (False, 0.5), (True, 1.0)):
            ref.update("test_variable", success, weight)
        printed = re.fullmatch(r"\[BayesianTrust\] variable=test_variable trust=(\S+) CI=(\(.*\)) confidence=(\S+) samples=(\d+)", lines[0])
        self.assertIsNotNone(printed, lines[0])
        self.assertEqual(printed.group(1), f"{ref.get_trust('test_variable'):.3f}")
        for got, want in zip(ast.literal_eval(printed.group(2)), ref.get_confidence_interval("test_variable")):
            self.assertAlmostEqual(got, want, places=12)
        self.assertEqual(printed.group(3), f"{ref.get_confidence_strength('test_variable'):.3f}")
        self.assertEqual(int(printed.group(4)), ref.get_sample_size("test_variable"))
        self.assertEqual(lines[1:], ["Trust report generated with 0 high trust entities", "True True"])
        types = [r["event_type"] for r in read_records(server.log_path)[before:]]
        self.assertEqual(
            [t for t in types if not t.startswith("trust_") or t in ("trust_report_generated", "trust_data_exported", "trust_data_imported")],
            [
                "variable_weight_update",
                "symbolic_revision_triggered",
                "symbolic_upgrade_applied",
                "symbolic_arc_regret",
                "meta_learning_summary",
                "bayesian_trust_metrics",
                "rule_effectiveness",
                "trust_report_generated",
                "trust_data_exported",
                "trust_data_imported",
            ],
        )

    def test_quiet_from_the_environment(self) -> None:
        done = run_script(
            """
            import pulse_learning_log
            print(pulse_learning_log.log_learning_event("t", {"a": 1}))
            """,
            PULSE_LEARNING_LOG_ADDR=f"127.0.0.1:{free_port()}",
            PULSE_LEARNING_LOG_QUIET="1",
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), ["None"])
        # Logged, and with no logging configured Python shows ERROR on stderr.
        self.assertTrue(done.stderr.startswith("[LearningLog] Failed to log event: UNAVAILABLE"), done.stderr)


if __name__ == "__main__":
    unittest.main()
