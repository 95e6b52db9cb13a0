"""IngestEvents driver of the benchmark, from the Python client (grpcio).

Sends pre-built batches (message objects built before the clock starts;
grpcio serializes each send, as a real client does) on one IngestEvents
stream, at most --in-flight of them unanswered, for --warmup-s seconds not
counted and then --measure-s seconds measured. Prints one JSON object on
stdout: events acknowledged in the measured part, seconds, events/s, and
the p50/p99 ack latency (time from handing a batch to grpcio to its answer).
Before it, the lines {"mark": "start"} and {"mark": "end"} say when the
measured part began and ended, as they happen.

Run with the interpreter that has grpcio (the benchmark uses $PYTHON, default
/usr/bin/python3) and PYTHONPATH set to gen/python.
"""

import argparse
import collections
import json
import random
import sys
import threading
import time

import grpc

from pulse.learninglog.v1 import learning_log_pb2 as pb
from pulse.learninglog.v1 import learning_log_pb2_grpc as pb_grpc


OUTCOMES = ("applied", "skipped", "deferred")
# The run of the "seed-run" payload's events (SEED_RUN in fixtures.ts).
SEED_RUN = "backtest-2026-12-07"
KINDS = ("seed", "seed-string", "seed-run", "typed", "generic")


def rule_outcome(i):
    """The rule outcome of seed-mix event i as Pulse logs it (ruleOutcome in fixtures.ts)."""
    return {"delta": ((i * 7919) % 2001 - 1000) / 10000, "applied": (i // 3) % 3 == 0}


def seed_mix_event(i, outcome="object", run=None):
    """Event i of the seed mix, the same as seedMixEvent in bench/drivers/fixtures.ts.

    A third variable weight changes, a third rule activations (outcome an
    object {"delta", "applied"}, or with outcome="string" a string), a third
    LogEvents with nested Struct data and a run in their context; run puts
    every event in that run. Every value from i alone (integer arithmetic and
    one division, which both languages round alike).
    """
    event = _seed_mix_body(i, outcome)
    if run is not None:
        event.run = run
    return event


def _seed_mix_body(i, outcome):
    variable = "var_%03d" % (i % 500)
    k = i // 3
    weight = (i * 7919) % 10000
    if i % 3 == 0:
        return pb.LearningEvent(
            variable_weight_change=pb.LogVariableWeightChangeRequest(
                variable=variable, old_weight=weight / 10000, new_weight=(weight + (i * 104729) % 1001 - 500) / 10000
            )
        )
    if i % 3 == 1:
        activation = pb.LogRuleActivationRequest(
            rule_id="rule_%03d" % (k % 250),
            variable_id=variable,
            forecast_id="fc-%d" % (100000 + i),
            success=k % 4 != 0,
        )
        if outcome == "object":
            activation.outcome.struct_value.update(rule_outcome(i))
        else:
            activation.outcome.string_value = OUTCOMES[k % 3]
        return pb.LearningEvent(rule_activation=activation)
    lo = (i * 13) % 5000
    event = pb.LogEventRequest(event_type="forecast_evaluated")
    event.data.update(
        {
            "forecast_id": "fc-%d" % (100000 + i),
            "variable": variable,
            "horizon_days": 1 + k % 14,
            "metrics": {"mae": (i * 31) % 1000 / 10000, "rmse": (i * 37) % 2000 / 10000},
            "interval": {"lo": lo / 10000, "hi": (lo + 2500) / 10000},
            "tags": ["backtest", "daily" if k % 2 == 0 else "weekly"],
            "ok": k % 5 != 0,
        }
    )
    event.context.update({"source": "backtest", "run_id": "run-%03d" % (k % 50)})
    return pb.LearningEvent(generic=event)


def learning_event(kind, i, rng):
    """One event: a typed variable weight change, a free-form LogEvent, or event i of the seed mix in one of its shapes."""
    if kind == "seed":
        return seed_mix_event(i)
    if kind == "seed-string":
        return seed_mix_event(i, outcome="string")
    if kind == "seed-run":
        return seed_mix_event(i, run=SEED_RUN)
    variable = "var_%03d" % (i % 500)
    if kind == "typed":
        old = round(rng.random(), 4)
        return pb.LearningEvent(
            variable_weight_change=pb.LogVariableWeightChangeRequest(
                variable=variable, old_weight=old, new_weight=round(old + (rng.random() - 0.5) / 10, 4)
            )
        )
    event = pb.LogEventRequest(event_type="forecast_evaluated")
    event.data.update(
        {
            "forecast_id": "fc-%d" % (100000 + i),
            "variable": variable,
            "score": round(rng.random(), 4),
            "horizon_days": 1 + i % 14,
            "tags": ["backtest", "daily" if i % 2 == 0 else "weekly"],
            "ok": rng.random() > 0.2,
        }
    )
    event.context.update({"source": "bench"})
    return pb.LearningEvent(generic=event)


def prebuilt_batches(kind, batch_events, distinct=8):
    rng = random.Random(42)
    return [
        pb.IngestEventsRequest(
            batch_id=b + 1,
            events=[learning_event(kind, b * batch_events + i, rng) for i in range(batch_events)],
        )
        for b in range(distinct)
    ]


_stdout_lock = threading.Lock()


def print_marks(measure_start, measure_end):
    """Prints {"mark": "start"} at measure_start and {"mark": "end"} at measure_end (perf_counter times), flushed at once."""
    for name, at in (("start", measure_start), ("end", measure_end)):
        time.sleep(max(0.0, at - time.perf_counter()))
        with _stdout_lock:
            sys.stdout.write(json.dumps({"mark": name}) + "\n")
            sys.stdout.flush()


def percentile(sorted_values, p):
    """Nearest-rank percentile; None when there is no value."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), -(-p * len(sorted_values) // 100)))
    return sorted_values[int(rank) - 1]


def run(args):
    batches = prebuilt_batches(args.kind, args.batch_events)
    channel = grpc.insecure_channel(args.addr)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.LearningLogServiceStub(channel)

    room = threading.Semaphore(args.in_flight)
    stop = threading.Event()
    send_times = collections.deque()

    def requests():
        i = 0
        while True:
            room.acquire()
            if stop.is_set():
                return
            send_times.append(time.perf_counter())
            yield batches[i % len(batches)]
            i += 1

    start = time.perf_counter()
    measure_start = start + args.warmup_s
    measure_end = measure_start + args.measure_s
    # Tell the benchmark when the measured part begins and ends (it reads the
    # server's CPU time then): from a thread of their own, so the lines come on
    # time whatever the answers do, and in order.
    threading.Thread(target=print_marks, args=(measure_start, measure_end), daemon=True).start()
    events = 0.0
    latencies = []
    last_ack = start
    for answer in stub.IngestEvents(requests()):
        now = time.perf_counter()
        sent = send_times.popleft()
        latency_ms = (now - sent) * 1000
        if answer.errors:
            raise SystemExit("batch %d: %d events rejected, first: %s" % (answer.batch_id, len(answer.errors), answer.errors[0].message))
        # Spread the batch over the time its work took (from the later of its
        # send and the previous answer) and count the share inside the
        # measured part, as the TypeScript drivers do.
        begin = max(sent, last_ack)
        last_ack = now
        inside = max(0.0, min(now, measure_end) - max(begin, measure_start))
        if now > begin:
            events += answer.count * inside / (now - begin)
        elif measure_start <= now <= measure_end:
            events += answer.count
        if measure_start <= now <= measure_end:
            latencies.append(latency_ms)
        if now >= measure_end:
            stop.set()
        # After stop is set, the released sender sees it and half-closes.
        room.release()
    channel.close()
    latencies.sort()
    return {
        "events": round(events),
        "seconds": args.measure_s,
        "events_per_s": events / args.measure_s,
        "acks": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, help="host:port of the server")
    parser.add_argument("--batch-events", type=int, default=1000, help="events per IngestEvents message (default 1000)")
    parser.add_argument("--in-flight", type=int, default=8, help="batches sent and not yet answered, at most (default 8)")
    parser.add_argument("--warmup-s", type=float, default=1.0, help="seconds of warm-up, not counted (default 1)")
    parser.add_argument("--measure-s", type=float, default=5.0, help="seconds measured (default 5)")
    parser.add_argument("--kind", choices=KINDS, default="typed", help="event payload (default typed)")
    result = run(parser.parse_args())
    with _stdout_lock:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
