"""A token with several roles ("roles": ["writer", "reader"] in the tokens
file), used from the Python client against the real server: a trainer logs
events and reads trust with one token, and gets no more than its roles."""

from __future__ import annotations

import json
import os
import unittest
from pathlib import Path
from typing import Any, List

from helpers import ServerProcess, TempDir, read_records

from pulse_learning_log import LearningLogClient, PermissionDenied, Unauthenticated

TRAINER = "trainer-token-0123456789abcdef"
WRITER = "writer-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"

server: ServerProcess
tmp: TempDir


def write_tokens_file(path: Path, entries: List[Any]) -> Path:
    """Writes a tokens file readable by its owner only, as the server requires."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(entries, f)
    return path


def setUpModule() -> None:
    global server, tmp
    tmp = TempDir()
    try:
        tokens = write_tokens_file(
            tmp.path / "tokens.json",
            [
                {"name": "trainer-7", "roles": ["writer", "reader"], "token": TRAINER},
                {"name": "ingest", "role": "writer", "token": WRITER},
                {"name": "dashboard", "role": "reader", "token": READER},
            ],
        )
        server = ServerProcess(tmp.path / "pulse_learning_log.jsonl", flags=["--tokens-file", str(tokens)]).start()
    except BaseException:
        tmp.remove()
        raise


def tearDownModule() -> None:
    server.stop()
    tmp.remove()


class MultiRoleTokenTest(unittest.TestCase):
    def test_one_token_logs_events_and_reads_trust(self) -> None:
        with LearningLogClient(server.address, token=TRAINER) as client:
            ack = client.log_variable_weight_change("hope", 0.4, 0.6)
            self.assertGreater(ack.seq, 0)
            client.trust.update("rule_trainer", True)
            # get_trust is a reader's call: the same token covers it.
            self.assertAlmostEqual(client.trust.get_trust("rule_trainer"), 2 / 3)
        records = [r for r in read_records(server.log_path) if r["event_type"] == "variable_weight_update"]
        self.assertEqual([r["data"] for r in records], [{"variable": "hope", "from": 0.4, "to": 0.6}])

    def test_several_roles_grant_no_more_than_each(self) -> None:
        with LearningLogClient(server.address, token=TRAINER) as client:
            # Decay is an admin call: neither writer nor reader covers it.
            with self.assertRaises(PermissionDenied) as caught:
                client.trust.apply_global_decay(0.5)
            self.assertIn("roles writer, reader may not call", str(caught.exception))

    def test_single_role_tokens_keep_their_limits(self) -> None:
        with LearningLogClient(server.address, token=WRITER) as writer:
            writer.log_revision_trigger("a writer writes")
            with self.assertRaises(PermissionDenied):
                writer.trust.get_trust("rule_trainer")
        with LearningLogClient(server.address, token=READER) as reader:
            self.assertIsInstance(reader.trust.get_trust("rule_trainer"), float)
            with self.assertRaises(PermissionDenied):
                reader.log_revision_trigger("a reader may not write")
        with LearningLogClient(server.address, token="not-a-configured-token-0123") as stranger:
            with self.assertRaises(Unauthenticated):
                stranger.log_revision_trigger("no")


class BadTokensFileTest(unittest.TestCase):
    def test_a_bad_entry_stops_the_start_naming_the_entry(self) -> None:
        folder = TempDir()
        try:
            tokens = write_tokens_file(
                folder.path / "tokens.json",
                [
                    {"name": "ok", "role": "writer", "token": WRITER},
                    {"name": "trainer-7", "roles": ["writer", "trainer"], "token": TRAINER},
                ],
            )
            bad = ServerProcess(folder.path / "pulse_learning_log.jsonl", flags=["--tokens-file", str(tokens)])
            with self.assertRaises(RuntimeError) as caught:
                bad.start()
            self.assertEqual(bad.process.returncode if bad.process else None, 2)
            message = str(caught.exception)
            self.assertIn('entry 1 ("trainer-7"): "roles" has "trainer"; each must be one of writer, reader, admin', message)
            self.assertNotIn(TRAINER, message)
            self.assertFalse((folder.path / "pulse_learning_log.jsonl").exists(), "nothing is written when the start fails")
        finally:
            folder.remove()


if __name__ == "__main__":
    unittest.main()
