"""One-call-at-a-time driver of the Python benchmark (bench/python-sequential.ts).

Times N sequential ``log_variable_weight_change`` calls, the most common call
pattern of Pulse code, in one of these ways (--scenario):

  original    the original module's loop, in process: open, append one JSON
              line, flush, fsync, close per event (core/pulse_learning_log.py)
  sync-write  the disk's sync latency alone: one pwrite of a record-sized line
              per event on a file opened O_DSYNC (the server's durable write)
  durable     the drop-in's module function, durable mode (the default client:
              one shared IngestEvents stream, each call waits for its ack)
  unary       LearningLogClient(stream=False): one unary RPC per call
  background  the module function in background mode, then flush(): calls/s
              count from the first call until flush() returned

Every call's own time is measured (perf_counter). Prints one JSON object:
calls, seconds, calls_per_s, p50_ms, p99_ms, mean_ms, client_cpu_us (this
process's CPU per call, all threads, over the calls; for background the calls
and the flush) (and for background enqueue_s, the time until the last call
returned, and flush_s).

Run with the interpreter that has grpcio, PYTHONPATH=gen/python:clients/python.
"""

import argparse
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone


def percentile(sorted_values, p):
    """Nearest-rank percentile; None when there is no value."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), -(-p * len(sorted_values) // 100)))
    return sorted_values[int(rank) - 1]


# CPU of this process (all its threads: grpc's included) over the last timed() loop, in seconds.
_cpu = [0.0]


def timed(n, call):
    """Calls call(i) n times; returns (seconds, per-call seconds). The
    process's CPU over the loop is kept for the report (client CPU per call)."""
    latencies = []
    cpu = time.process_time()
    start = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        call(i)
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - start
    _cpu[0] = time.process_time() - cpu
    return seconds, latencies


def original_loop(args):
    """The original module's log_event, as written: a JSON line per event, fsynced."""
    path = os.path.join(args.dir, "original_learning_log.jsonl")

    def log(i):
        entry = {
            "event_id": str(uuid.uuid4()),
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "event_type": "variable_weight_update",
            "data": {"variable": args.tag, "from": 1.0, "to": 1.0 + i},
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    log(-1)  # the file exists, as in a running process
    return timed(args.events, log)


def sync_write(args):
    """pwrite of a ~280-byte line on an O_DSYNC file: what one durable commit costs the disk."""
    path = os.path.join(args.dir, "sync_probe.jsonl")
    line = (json.dumps({"event_id": str(uuid.uuid4()), "timestamp": datetime.now(timezone.utc).isoformat(), "event_type": "variable_weight_update", "data": {"variable": args.tag, "from": 1, "to": 2}, "seq": 1, "hash": "0" * 64}) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DSYNC, 0o600)
    offset = [0]

    def write(_):
        os.pwrite(fd, line, offset[0])
        offset[0] += len(line)

    try:
        write(-1)
        return timed(args.events, write)
    finally:
        os.close(fd)


def durable(args):
    import pulse_learning_log

    pulse_learning_log.configure(args.addr, mode="durable")
    pulse_learning_log.log_variable_weight_change(args.tag, 0.0, 0.0)  # connects and opens the stream
    try:
        return timed(args.events, lambda i: pulse_learning_log.log_variable_weight_change(args.tag, 1.0, 1.0 + i))
    finally:
        pulse_learning_log.close()


def unary(args):
    from pulse_learning_log import LearningLogClient

    with LearningLogClient(args.addr) as client:
        client.log_variable_weight_change(args.tag, 0.0, 0.0)
        return timed(args.events, lambda i: client.log_variable_weight_change(args.tag, 1.0, 1.0 + i))


def background(args):
    import pulse_learning_log

    pulse_learning_log.configure(args.addr, mode="background", buffer_events_max=max(100_000, args.events))
    pulse_learning_log.log_variable_weight_change(args.tag, 0.0, 0.0)
    pulse_learning_log.flush()  # connected, stream open
    start = time.perf_counter()
    cpu = time.process_time()
    seconds, latencies = timed(args.events, lambda i: pulse_learning_log.log_variable_weight_change(args.tag, 1.0, 1.0 + i))
    pulse_learning_log.flush()
    total = time.perf_counter() - start
    _cpu[0] = time.process_time() - cpu  # the calls and the flush
    pulse_learning_log.close()
    return total, latencies, {"enqueue_s": seconds, "flush_s": total - seconds}


SCENARIOS = {"original": original_loop, "sync-write": sync_write, "durable": durable, "unary": unary, "background": background}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--addr", help="host:port of the server (client scenarios)")
    parser.add_argument("--dir", help="folder for the original's log and the sync probe (on the server log's file system)")
    parser.add_argument("--events", type=int, default=2000, help="calls timed (default 2000)")
    parser.add_argument("--tag", default="bench", help="data.variable of every event (to count them in the log)")
    args = parser.parse_args()
    result = SCENARIOS[args.scenario](args)
    seconds, latencies = result[0], result[1]
    extra = result[2] if len(result) > 2 else {}
    latencies.sort()
    report = {
        "calls": args.events,
        "seconds": seconds,
        "calls_per_s": args.events / seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": sum(latencies) / len(latencies) * 1000,
        "client_cpu_us": _cpu[0] / args.events * 1e6,
        **extra,
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
