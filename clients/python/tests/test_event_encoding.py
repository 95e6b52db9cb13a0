"""The streams' encoding of an event without its message: the direct
encoders write the very bytes protobuf's SerializeToString gives, refuse what
the fill functions refuse with the same words, and event ids are version 4
UUIDs. No server needed."""

from __future__ import annotations

import itertools
import re
import unittest
import uuid

from pulse_learning_log.events import CATALOG, DIRECT_ENCODERS, new_event_id
from pulse_learning_log.ingest_wire import frame_event


class DirectEncodingTest(unittest.TestCase):
    def test_every_direct_encoder_belongs_to_a_row(self) -> None:
        cases = {entry.case for entry in CATALOG.values()}
        self.assertLessEqual(set(DIRECT_ENCODERS), cases)
        for entry in CATALOG.values():
            self.assertIs(entry.direct, DIRECT_ENCODERS.get(entry.case))

    def test_weight_change_bytes_are_the_messages(self) -> None:
        entry = CATALOG["log_variable_weight_change"]
        names = ["", "hope", "ünïcödé ✓", "x" * 127, "y" * 128, "z" * 20_000]
        numbers = [0.0, -0.0, 0, 1, -2, 1.5, 1e-310, -1e308, 2**53]
        ids = [None, "0D3C2C8A-1B2C-4D5E-8F90-1234567890AB"]
        for name, old, new, event_id in itertools.product(names, numbers, numbers, ids):
            given, direct = entry.event_bytes((name, old, new), event_id)
            if event_id is not None:
                self.assertEqual(given, event_id.lower())
            message = entry.request((name, old, new), given)
            self.assertEqual(direct, entry.encode(message), (name, old, new, event_id))
            self.assertEqual(frame_event(direct, b"\x7a\x01r"), frame_event(entry.encode(message), b"\x7a\x01r"))

    def test_weight_change_refusals_are_the_fill_functions(self) -> None:
        entry = CATALOG["log_variable_weight_change"]
        for args in [(1, 1.0, 2.0), ("v", float("nan"), 1.0), ("v", float("inf"), 1.0), ("v", True, 1.0), ("v", 1.0, "2"), ("v", 1.0, None)]:
            with self.assertRaises(ValueError) as direct:
                entry.event_bytes(args, None)
            with self.assertRaises(ValueError) as filled:
                entry.request(args, None)
            self.assertEqual(str(direct.exception), str(filled.exception), args)
        with self.assertRaises(ValueError):
            entry.event_bytes(("v", 1.0, 2.0), 42)  # type: ignore[arg-type]

    def test_rows_without_a_direct_encoder_encode_their_message(self) -> None:
        entry = CATALOG["log_revision_trigger"]
        self.assertIsNone(entry.direct)
        given, encoded = entry.event_bytes(("drift",), None)
        self.assertEqual(encoded, entry.encode(entry.request(("drift",), given)))


class EventIdTest(unittest.TestCase):
    def test_ids_are_distinct_version_4_uuids(self) -> None:
        ids = [new_event_id() for _ in range(5_000)]
        self.assertEqual(len(set(ids)), len(ids))
        form = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        for event_id in ids:
            self.assertRegex(event_id, form)
            parsed = uuid.UUID(event_id)
            self.assertEqual((parsed.version, parsed.variant), (4, uuid.RFC_4122))
            self.assertEqual(str(parsed), event_id)
        # The variant's two free bits are random, not fixed.
        self.assertEqual({event_id[19] for event_id in ids}, set("89ab"))


if __name__ == "__main__":
    unittest.main()
