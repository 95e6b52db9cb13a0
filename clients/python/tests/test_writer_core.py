"""The BatchWriters' sans-I/O core, driven directly: no server, no threads,
no sleeps; a fake clock and a fixed jitter make every step deterministic."""

from __future__ import annotations

import random
import unittest
from typing import Any, Dict, List, Optional

from pulse_learning_log.writer_core import (
    FIRST,
    FULL,
    QUEUED,
    AckTimeout,
    Batch,
    EndStream,
    GiveUp,
    ProtocolError,
    Retry,
    Send,
    ServerLimits,
    Wait,
    WriterCore,
)


class Failure:
    """A failure as the core sees one."""

    def __init__(self, name: str, retryable: bool):
        self.name = name
        self.retryable = retryable

    def __repr__(self) -> str:
        return self.name


UNAVAILABLE = Failure("UNAVAILABLE", True)
INVALID = Failure("INVALID_ARGUMENT", False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, jitter: float = 0.0, **options: Any) -> "WriterCore[Failure]":
    settings: Dict[str, Any] = dict(
        batch_events_max=3,
        batch_bytes_max=100,
        flush_interval=0.25,
        batches_in_flight_max=2,
        buffer_events_max=10,
        buffer_bytes_max=1000,
        backoff_initial=0.1,
        backoff_max=1.0,
        retry_timeout=10.0,
        ack_timeout=5.0,
        stream_idle_timeout=1.0,
    )
    settings.update(options)
    return WriterCore(clock=clock, random=lambda: jitter, **settings)


def ids(batch: Batch) -> List[str]:
    return [event_id for event_id, _ in batch.events]


def sent(step: object) -> Batch:
    assert isinstance(step, Send), step
    return step.batch


class BatchingTest(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.core = make(self.clock)
        self.core.stream_opened()

    def test_a_batch_is_sent_when_full(self) -> None:
        self.assertEqual(self.core.add("a", b"x" * 10), FIRST)
        self.assertEqual(self.core.add("b", b"x" * 10), QUEUED)
        self.assertEqual(self.core.next_send(), Wait(self.clock.now + 0.25))
        self.assertEqual(self.core.add("c", b"x" * 10), FULL)
        batch = sent(self.core.next_send())
        self.assertEqual((batch.batch_id, ids(batch), batch.size), (1, ["a", "b", "c"], 30))

    def test_a_batch_is_sent_flush_interval_after_its_first_event(self) -> None:
        self.core.add("a", b"x")
        self.clock.now += 0.125
        self.assertIsInstance(self.core.next_send(), Wait)
        self.clock.now += 0.125
        self.assertEqual(ids(sent(self.core.next_send())), ["a"])

    def test_flush_and_close_send_at_once(self) -> None:
        self.core.add("a", b"x")
        self.core.flushing += 1
        self.assertEqual(ids(sent(self.core.next_send())), ["a"])
        self.core.flushing -= 1
        self.core.add("b", b"x")
        self.core.closing = True
        self.assertEqual(ids(sent(self.core.next_send())), ["b"])

    def test_batches_are_cut_at_the_byte_bound_and_an_oversized_event_goes_alone(self) -> None:
        self.core.add("a", b"x" * 60)
        self.core.add("b", b"x" * 60)
        self.core.add("c", b"x" * 150)
        self.core.closing = True
        self.assertEqual(ids(sent(self.core.next_send())), ["a"])
        self.assertEqual(ids(sent(self.core.next_send())), ["b"])
        self.core.on_answer(1, 1, 0, [])
        self.assertEqual(ids(sent(self.core.next_send())), ["c"])

    def test_no_more_than_batches_in_flight_max(self) -> None:
        for i in range(9):
            self.core.add(str(i), b"x")
        first = sent(self.core.next_send())
        sent(self.core.next_send())
        # Two in flight: wait for an answer (or the first batch's ack timeout).
        self.assertEqual(self.core.next_send(), Wait(first.sent_at + 5.0))
        self.core.on_answer(1, 3, 0, [])
        self.assertEqual(ids(sent(self.core.next_send())), ["6", "7", "8"])

    def test_the_buffer_is_bounded_in_events_and_bytes(self) -> None:
        core = make(self.clock, buffer_events_max=2, buffer_bytes_max=50)
        self.assertFalse(core.full(500), "one event always fits an empty buffer")
        core.add("a", b"x" * 30)
        self.assertTrue(core.full(21))
        self.assertFalse(core.full(20))
        core.add("b", b"x" * 20)
        self.assertTrue(core.full(1))
        core.stream_opened()
        core.closing = True
        core.on_answer(sent(core.next_send()).batch_id, 2, 0, [])
        self.assertFalse(core.full(50))
        self.assertEqual((core.buffered_events, core.buffered_bytes), (0, 0))

    def test_server_limits_lower_the_batch_caps(self) -> None:
        core = make(self.clock, batch_events_max=1000, batch_bytes_max=2 * 1024 * 1024)
        core.apply_server_limits(ServerLimits(message_bytes_max=1016, batch_events_max=2, record_bytes_max=0))
        self.assertEqual((core.batch_events_max, core.batch_bytes_max), (2, 1000))
        self.assertEqual(core.limits.record_bytes_max, 1024 * 1024, "0: the default")
        core.apply_server_limits(ServerLimits(message_bytes_max=64 * 1024 * 1024, batch_events_max=50_000, record_bytes_max=1))
        self.assertEqual((core.batch_events_max, core.batch_bytes_max), (1000, 2 * 1024 * 1024), "never above what the writer asked for")


class AnswersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.core = make(self.clock)
        self.core.stream_opened()
        self.core.closing = True

    def test_an_answer_counts_written_duplicates_and_refused(self) -> None:
        for event_id in "abc":
            self.core.add(event_id, b"x")
        batch = self.core.on_answer(sent(self.core.next_send()).batch_id, 2, 1, [2])
        self.assertEqual(ids(batch), ["a", "b", "c"])
        stats = self.core.stats(rejected=1)
        self.assertEqual(stats, {"logged": 3, "written": 1, "duplicates": 1, "rejected": 1, "dropped": 0, "buffered": 0, "batches": 1, "retries": 0})
        self.assertTrue(self.core.flushed(3))
        self.assertTrue(self.core.finished())

    def test_an_answer_that_fits_no_batch_is_a_protocol_error_and_changes_nothing(self) -> None:
        self.core.add("a", b"x")
        batch = sent(self.core.next_send())
        with self.assertRaisesRegex(ProtocolError, "answer for batch 7, expected 1"):
            self.core.on_answer(7, 1, 0, [])
        with self.assertRaisesRegex(ProtocolError, "error index 1 outside batch 1 of 1 events"):
            self.core.on_answer(batch.batch_id, 0, 0, [1])
        self.assertEqual(self.core.buffered_events, 1)
        self.core.on_answer(batch.batch_id, 1, 0, [])
        with self.assertRaisesRegex(ProtocolError, "expected None"):
            self.core.on_answer(2, 1, 0, [])

    def test_an_unanswered_batch_times_out(self) -> None:
        self.core.closing = False
        self.core.add("a", b"x")
        self.clock.now += 0.25
        batch = sent(self.core.next_send())
        self.clock.now += 4.9
        self.assertEqual(self.core.next_send(), Wait(batch.sent_at + 5.0))
        self.clock.now += 0.1
        self.assertEqual(self.core.next_send(), AckTimeout(batch.batch_id, 5.0))


class StreamEndTest(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.core = make(self.clock)
        self.core.stream_opened()

    def test_unanswered_batches_are_resent_first_in_order_with_the_same_ids(self) -> None:
        for i in range(5):
            self.core.add(str(i), b"x")
        self.core.flushing = 1
        sent(self.core.next_send())
        sent(self.core.next_send())
        self.core.add("5", b"x")
        self.assertIsInstance(self.core.stream_ended(reached=True, failure=UNAVAILABLE), Retry)
        self.core.stream_opened()
        resent = [sent(self.core.next_send()), sent(self.core.next_send())]
        self.assertEqual([ids(b) for b in resent], [["0", "1", "2"], ["3", "4", "5"]])
        self.assertEqual([b.batch_id for b in resent], [3, 4], "a new stream, new batch ids")

    def test_resent_events_are_due_at_once(self) -> None:
        self.core.add("a", b"x")
        self.clock.now += 0.25
        sent(self.core.next_send())
        self.core.stream_ended(reached=True, failure=UNAVAILABLE)
        self.core.stream_opened()
        self.assertEqual(ids(sent(self.core.next_send())), ["a"])

    def test_backoff_doubles_up_to_its_maximum_with_jitter(self) -> None:
        self.core.add("a", b"x")
        delays = [self.core.stream_ended(reached=False, failure=UNAVAILABLE) for _ in range(6)]
        self.assertEqual(delays, [Retry(d) for d in (0.05, 0.1, 0.2, 0.4, 0.5, 0.5)])
        high = make(self.clock, jitter=0.999)
        self.assertAlmostEqual(high.backoff(1), 0.1 * 0.9995)
        self.assertEqual(self.core.stats(0)["retries"], 6)

    def test_a_fatal_failure_gives_up_at_once(self) -> None:
        self.core.add("a", b"x")
        step = self.core.stream_ended(reached=True, failure=INVALID)
        assert isinstance(step, GiveUp)
        self.assertIs(step.failure, INVALID)

    def test_retries_stop_after_retry_timeout_without_an_answer(self) -> None:
        self.core.add("a", b"x")
        self.assertIsInstance(self.core.stream_ended(reached=False, failure=UNAVAILABLE), Retry)
        self.clock.now += 9.9
        self.assertIsInstance(self.core.stream_ended(reached=False, failure=UNAVAILABLE), Retry)
        self.clock.now += 0.1
        self.assertIsInstance(self.core.stream_ended(reached=False, failure=UNAVAILABLE), GiveUp)

    def test_an_answer_restarts_the_retry_clock_and_the_backoff(self) -> None:
        self.core.add("a", b"x")
        self.core.add("b", b"x")
        self.core.stream_ended(reached=False, failure=UNAVAILABLE)
        self.core.stream_ended(reached=False, failure=UNAVAILABLE)
        self.clock.now += 9.0
        self.core.stream_opened()
        self.core.flushing = 1
        self.core.on_answer(sent(self.core.next_send()).batch_id, 2, 0, [])
        self.assertIsNone(self.core.last_failure, "answered: no longer failing")
        self.clock.now += 9.0
        self.core.add("c", b"x")
        self.assertEqual(self.core.stream_ended(reached=True, failure=UNAVAILABLE), Retry(0.05))

    def test_a_clean_end_carries_on(self) -> None:
        self.assertIsNone(self.core.stream_ended(reached=True))

    def test_idle_streams_end_and_closing_waits_for_answers(self) -> None:
        self.clock.now += 0.999
        self.assertEqual(self.core.next_send(), Wait(self.clock.now + 0.001))
        self.clock.now += 0.001
        self.assertEqual(self.core.next_send(), EndStream(idle=True))
        self.core.stream_opened()
        self.core.add("a", b"x")
        self.core.closing = True
        batch = sent(self.core.next_send())
        self.assertIsInstance(self.core.next_send(), Wait, "closing: the answers are awaited before the half-close")
        self.core.on_answer(batch.batch_id, 1, 0, [])
        self.assertEqual(self.core.next_send(), EndStream(idle=False))

    def test_giving_up_splits_what_may_be_in_the_log_from_what_never_left(self) -> None:
        for event_id in "abcdef":
            self.core.add(event_id, b"x")
        self.core.flushing = 1
        sent(self.core.next_send())  # a b c
        self.core.stream_ended(reached=True, failure=UNAVAILABLE)  # a b c may be in the log
        self.core.stream_opened()
        sent(self.core.next_send())  # a b c again
        self.core.stream_ended(reached=False, failure=UNAVAILABLE)  # not delivered this time, maybe before
        self.core.stream_opened()
        sent(self.core.next_send())  # a b c, in flight now
        self.core.fail(INVALID)
        dropped = self.core.give_up()
        self.assertEqual([e for e, _ in dropped.sent], ["a", "b", "c"])
        self.assertEqual([e for e, _ in dropped.never_sent], ["d", "e", "f"])
        self.assertEqual(self.core.stats(0)["dropped"], 6)
        self.assertTrue(self.core.flushed(6))
        self.assertEqual(self.core.give_up().events, [], "each event is given up once")
        self.assertIs(self.core.error, INVALID)
        self.assertFalse(self.core.fail(UNAVAILABLE), "the first failure stays")


class EveryEventOnceTest(unittest.TestCase):
    """Property: whatever happens on the wire, every event logged is answered
    (written, duplicate or refused) or given up, exactly once; the answered
    ones are a prefix of the log order; the counters add up."""

    def run_one(self, seed: int) -> None:
        rnd = random.Random(seed)
        clock = Clock()
        core = make(
            clock,
            jitter=rnd.random(),
            batch_events_max=rnd.randint(1, 5),
            batch_bytes_max=rnd.randint(5, 60),
            batches_in_flight_max=rnd.randint(1, 4),
            buffer_events_max=rnd.randint(1, 30),
            buffer_bytes_max=rnd.randint(20, 300),
            retry_timeout=rnd.choice([0.5, 5.0, 1e9]),
        )
        logged: List[str] = []
        answered: List[str] = []
        wire: List[Batch] = []  # sent on the open stream, not yet answered
        stream_open = False
        gave_up: Optional[List[str]] = None
        for _ in range(rnd.randint(0, 400)):
            if core.error is not None:
                break
            clock.now += rnd.choice([0.0, 0.0, 0.125, 0.5, 2.0])
            action = rnd.random()
            if action < 0.35:
                size = rnd.randint(1, 40)
                if not core.full(size):
                    event_id = f"e{len(logged)}"
                    core.add(event_id, b"x" * size)
                    logged.append(event_id)
            elif action < 0.45:
                core.flushing = rnd.choice([0, 1])
            elif not stream_open:
                if core.wants_stream():
                    core.stream_opened()
                    stream_open = True
            elif action < 0.7:
                step = core.next_send()
                if isinstance(step, Send):
                    wire.append(step.batch)
                elif isinstance(step, (EndStream, AckTimeout)):
                    stream_open = False
                    failure = Failure("DEADLINE_EXCEEDED", True) if isinstance(step, AckTimeout) else None
                    # After a half-close the server answers everything sent.
                    if isinstance(step, EndStream):
                        for batch in wire:
                            answered.extend(ids(core.on_answer(batch.batch_id, len(batch.events), 0, [])))
                    wire.clear()
                    outcome = core.stream_ended(reached=True, failure=failure)
                    if isinstance(outcome, GiveUp):
                        core.fail(outcome.failure)
            elif action < 0.88:
                if wire:
                    batch = wire.pop(0)
                    refused = [i for i in range(len(batch.events)) if rnd.random() < 0.2]
                    duplicates = rnd.randint(0, len(batch.events) - len(refused))
                    answered.extend(ids(core.on_answer(batch.batch_id, len(batch.events) - len(refused), duplicates, refused)))
            else:
                failure = rnd.choice([UNAVAILABLE, UNAVAILABLE, INVALID])
                reached = rnd.random() < 0.5
                # The answers of a broken stream never come: the batches are resent.
                wire.clear()
                stream_open = False
                outcome = core.stream_ended(reached=reached, failure=failure)
                if isinstance(outcome, GiveUp):
                    core.fail(outcome.failure)
            self.assertEqual(core.buffered_events, len(logged) - len(answered))
        # The end: answer what is on the wire, or fail and give the rest up.
        if rnd.random() < 0.5 and core.error is None:
            for batch in wire:
                answered.extend(ids(core.on_answer(batch.batch_id, len(batch.events), 0, [])))
        wire.clear()
        core.fail(INVALID)
        dropped = core.give_up()
        gave_up = [e for e, _ in dropped.events]
        everything = answered + gave_up
        self.assertEqual(sorted(everything), sorted(logged), f"seed {seed}: every event answered or given up")
        self.assertEqual(len(set(everything)), len(everything), f"seed {seed}: none twice")
        self.assertEqual(answered, logged[: len(answered)], f"seed {seed}: answered in log order")
        stats = core.stats(0)
        self.assertEqual(stats["logged"], len(logged))
        self.assertEqual(stats["dropped"], len(gave_up))
        self.assertEqual(stats["buffered"], 0)
        self.assertTrue(core.flushed(len(logged)))

    def test_every_event_is_answered_or_given_up_exactly_once(self) -> None:
        for seed in range(300):
            self.run_one(seed)


if __name__ == "__main__":
    unittest.main()
