import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { ReadQuery } from "../../../src/store/store.js";
import { ServiceError } from "../../../src/errors.js";
import { JetStreamRecordSource, type JetStreamReaderOptions } from "../../../src/store/jetstream/jetstream-reader.js";
import { storedMessageOf } from "../../../src/store/jetstream/stored-record.js";
import { MessageBuilder } from "../../../src/store/jetstream/record-message.js";
import { recordHead } from "../../../src/record/layout.js";

/** A record stored one per message (as earlier versions wrote them) at `seq`, as JetStream hands it to a consumer. */
function message(seq: number): JsMsg {
  const data = Buffer.from(storedMessageOf(`id-${seq}`, "2026-11-25T12:00:00.000000+00:00", `"event_type":"t","data":{"n":${seq}}`));
  return { seq, data } as unknown as JsMsg;
}

/** A group commit of `RECORDS_PER_MESSAGE` records at stream sequence `seq`: records (seq-1)*3+1 .. seq*3, types alternating a, b. */
const RECORDS_PER_MESSAGE = 3;
const built = new Map<number, MessageBuilder>();
/** The message at `seq`, chained on the one before (as a writer builds them). */
function batchMessage(seq: number): JsMsg {
  const builder = batchBuilder(seq);
  return { seq, data: builder.bytes, headers: builder.headers() } as unknown as JsMsg;
}
/**
 * A message of another history at `seq`: the same seq range, chained on the
 * leader's message before it, but other records (a replica that kept a
 * group commit the others never stored, as nats-server 2.9.10 does after a
 * paused leader).
 */
function divergentMessage(seq: number): JsMsg {
  const first = (seq - 1) * RECORDS_PER_MESSAGE + 1;
  const builder = new MessageBuilder(64 * 1024, first, seq === 1 ? "" : batchBuilder(seq - 1).tip);
  for (let r = first; r < first + RECORDS_PER_MESSAGE; r++) builder.add({}, `other-${r}`, recordHead("2026-11-25T12:00:00.000000+00:00"), `"event_type":"a","data":{"n":${r}}`, false);
  return { seq, data: builder.bytes, headers: builder.headers() } as unknown as JsMsg;
}

/** Every record of a read with its event_id. */
async function readIds(source: JetStreamRecordSource, query: ReadQuery = {}): Promise<string[]> {
  const cursor = await source.open(query);
  const ids: string[] = [];
  try {
    for await (const batch of cursor.batches()) ids.push(...batch.map((r) => `${r.seq}:${r.eventId}`));
  } finally {
    await cursor.close();
  }
  return ids;
}

function batchBuilder(seq: number): MessageBuilder {
  const known = built.get(seq);
  if (known !== undefined) return known;
  const first = (seq - 1) * RECORDS_PER_MESSAGE + 1;
  const builder = new MessageBuilder(64 * 1024, first, seq === 1 ? "" : batchBuilder(seq - 1).tip);
  for (let r = first; r < first + RECORDS_PER_MESSAGE; r++) builder.add({}, `id-${r}`, recordHead("2026-11-25T12:00:00.000000+00:00"), `"event_type":"${r % 2 ? "a" : "b"}","data":{"n":${r}}`, false);
  built.set(seq, builder);
  return builder;
}

/** The client's error for a request nobody answered. */
function timeout(): Error {
  const err = new Error("timeout");
  err.name = "TimeoutError";
  return err;
}

/**
 * What one consumer create does, in order of creates (the last one repeats):
 * - ok: answered; its consumer delivers from its start seq, then `after`
 *   once `delivered` messages are out (all by default);
 * - lost: placed on a lost server: never answered, so the client's request
 *   times out after `timeoutMs`;
 * - late: answered after `delayMs` (by then another create may have won).
 */
type Create =
  | { kind: "ok"; delivered?: number; after?: "end" | "throw" | "stall"; consumeFails?: boolean }
  | { kind: "lost"; timeoutMs: number }
  | { kind: "late"; delayMs: number };

/** An ordered consumer's messages: an async iterator that stop() ends, even while it waits. */
class FakeMessages implements AsyncIterator<JsMsg> {
  private readonly queue: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private stopped = false;
  private error: Error | undefined;
  push(m: JsMsg): void {
    this.queue.push(m);
    this.poke();
  }
  fail(err: Error): void {
    this.error = err;
    this.poke();
  }
  stop(): void {
    this.stopped = true;
    this.poke();
  }
  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async next(): Promise<IteratorResult<JsMsg>> {
    for (;;) {
      if (this.queue.length > 0) return { done: false, value: this.queue.shift()! };
      if (this.stopped) return { done: true, value: undefined };
      if (this.error !== undefined) throw this.error;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
  async return(): Promise<IteratorResult<JsMsg>> {
    this.stop();
    return { done: true, value: undefined };
  }
  [Symbol.asyncIterator]() {
    return this;
  }
}

/** A stream of `last` messages whose consumer creates behave as `creates` says. */
function fakeJetStream(
  last: number,
  creates: Create[],
  info: () => Promise<unknown> = async () => ({ state: { first_seq: 1, last_seq: last } }),
  messageAt: (seq: number) => JsMsg = message,
  /** What the stream's leader holds (non-direct gets); by default what consumers deliver. */
  leaderAt: (seq: number) => JsMsg = messageAt,
) {
  const starts: number[] = [];
  let deleted!: () => void;
  const firstDelete = new Promise<void>((resolve) => (deleted = resolve));
  let made = 0;
  const consumerAt = (start: number, how: Extract<Create, { kind: "ok" }>) => ({
    delete: async () => {
      deleted();
      return true;
    },
    consume: async () => {
      // An ordered consumer is made on the server when consumed: that request can time out too.
      if (how.consumeFails) throw timeout();
      const messages = new FakeMessages();
      const delivered = how.delivered ?? Number.POSITIVE_INFINITY;
      for (let seq = start; seq <= last && seq - start < delivered; seq++) messages.push(messageAt(seq));
      if (start + delivered <= last) {
        if (how.after === "throw") messages.fail(new Error("heartbeats missed"));
        else if (how.after === "end") messages.stop();
        // stall: nothing more, ever (its server was lost)
      }
      return messages;
    },
  });
  const js = {
    consumers: {
      get: (_stream: string, options: { opt_start_seq: number }) => {
        const how = creates[Math.min(made++, creates.length - 1)];
        starts.push(options.opt_start_seq);
        const ok = consumerAt(options.opt_start_seq, how.kind === "ok" ? how : { kind: "ok" });
        // unref: a request still waiting when the tests end does not keep mocha alive.
        if (how.kind === "lost") return new Promise((_, reject) => setTimeout(() => reject(timeout()), how.timeoutMs).unref());
        if (how.kind === "late") return new Promise((resolve) => setTimeout(() => resolve(ok), how.delayMs).unref());
        return Promise.resolve(ok);
      },
    },
  } as unknown as JetStreamClient;
  // Message gets (the searches for a seq): what a consumer would deliver there, as a stored message.
  const getMessage = async (_stream: string, { seq }: { seq: number }) => {
    if (seq < 1 || seq > last) return null;
    const m = leaderAt(seq);
    return { seq, data: m.data, header: m.headers };
  };
  const jsm = { streams: { info, getMessage } } as unknown as JetStreamManager;
  return { js, jsm, starts, firstDelete };
}

async function readAll(source: JetStreamRecordSource, query: ReadQuery = {}): Promise<number[]> {
  const cursor = await source.open(query);
  const seqs: number[] = [];
  try {
    for await (const batch of cursor.batches()) seqs.push(...batch.map((r) => r.seq));
  } finally {
    await cursor.close();
  }
  return seqs;
}

// Short waits: these streams are in memory. No assertion here depends on how long anything took.
// Outcomes do not depend on the budget (60 s, the default) except where a test sets a small one to see the read give up.
const fast: JetStreamReaderOptions = { hedgeMs: 20, stallMs: 200, retryMs: 60_000 };

describe("JetStreamRecordSource", () => {
  it("goes on from the next seq with a new consumer when one fails, reading every record once", async () => {
    const { js, jsm, starts } = fakeJetStream(5, [{ kind: "ok", delivered: 1, after: "throw" }, { kind: "ok", delivered: 1, after: "throw" }, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), [1, 2, 3, 4, 5]);
    assert.deepEqual(starts, [1, 2, 3], "each new consumer starts after the last record read");
  });

  it("gives up with UNAVAILABLE after ten consumers in a row fail without delivering anything, naming the last error and the seq to resume from", async () => {
    const { js, jsm } = fakeJetStream(100, [{ kind: "ok", delivered: 0, after: "throw" }]);
    await assert.rejects(readAll(new JetStreamRecordSource(js, jsm, "S", fast)), (err: unknown) => {
      assert.ok(err instanceof ServiceError);
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.message, /stopped before seq 1, 10 times in a row; last error: heartbeats missed; resume with from_seq 1/);
      return true;
    });
  });

  it("races a consumer create that is never answered (placed on a lost server) with another one, and reads everything", async () => {
    // The node-loss defect: a create JetStream placed on the killed server; before, the read waited for it, then failed.
    const { js, jsm, starts } = fakeJetStream(5, [{ kind: "lost", timeoutMs: 60_000 }, { kind: "lost", timeoutMs: 60_000 }, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", { ...fast, hedgeMs: 10 })), [1, 2, 3, 4, 5]);
    assert.deepEqual(starts, [1, 1, 1], "three creates from the same seq");
  });

  it("keeps creating while every create in flight times out, and reads everything once one is answered", async () => {
    const lost: Create = { kind: "lost", timeoutMs: 5 };
    const { js, jsm, starts } = fakeJetStream(3, [lost, lost, lost, lost, lost, lost, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), [1, 2, 3]);
    assert.equal(starts.length, 7);
  });

  it("deletes the consumer of a create answered after another one won", async () => {
    const f = fakeJetStream(3, [{ kind: "late", delayMs: 100 }, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(f.js, f.jsm, "S", { ...fast, hedgeMs: 10 })), [1, 2, 3]);
    // The late answer comes after the read; it is released then (awaited: mocha's timeout bounds it).
    await f.firstDelete;
  });

  it("replaces a consumer that stalls (its server was lost) while records are known to be stored", async () => {
    const { js, jsm, starts } = fakeJetStream(6, [{ kind: "ok", delivered: 2, after: "stall" }, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(starts, [1, 3]);
  });

  it("answers UNAVAILABLE naming the seq to resume from when no consumer can be made in retryMs", async () => {
    const { js, jsm } = fakeJetStream(5, [{ kind: "lost", timeoutMs: 5 }]);
    await assert.rejects(readAll(new JetStreamRecordSource(js, jsm, "S", { ...fast, retryMs: 100 })), (err: unknown) => {
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
      assert.match(err.message, /did not start a reader on stream S at seq 1; resume with from_seq 1 \(timeout\)/);
      assert.equal((err.cause as Error).name, "TimeoutError", "the cause is kept for the server log");
      return true;
    });
  });

  it("makes another consumer when one's first pull is not answered, and reads everything", async () => {
    const { js, jsm, starts } = fakeJetStream(5, [{ kind: "ok", consumeFails: true }, { kind: "ok", consumeFails: true }, { kind: "ok" }]);
    assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), [1, 2, 3, 4, 5]);
    assert.deepEqual(starts, [1, 1, 1]);
  });

  it("answers UNAVAILABLE naming the seq to resume from when no consumer's first pull is answered in retryMs (not INTERNAL)", async () => {
    const { js, jsm } = fakeJetStream(5, [{ kind: "ok", consumeFails: true }]);
    await assert.rejects(readAll(new JetStreamRecordSource(js, jsm, "S", { ...fast, retryMs: 100 })), (err: unknown) => {
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
      assert.match(err.message, /did not start a reader on stream S at seq 1; resume with from_seq 1 \(timeout\)/);
      return true;
    });
  });

  it("tries stream info again through an election at open", async () => {
    let calls = 0;
    const { js, jsm } = fakeJetStream(3, [{ kind: "ok" }], async () => {
      if (++calls <= 3) throw timeout();
      return { state: { first_seq: 1, last_seq: 3 } };
    });
    const cursor = await new JetStreamRecordSource(js, jsm, "S", fast).open();
    await cursor.close();
    assert.equal(calls, 4);
  });

  it("answers UNAVAILABLE when the stream does not answer at open within retryMs", async () => {
    const { js, jsm } = fakeJetStream(5, [{ kind: "ok" }], async () => {
      throw timeout();
    });
    await assert.rejects(new JetStreamRecordSource(js, jsm, "S", { ...fast, retryMs: 0 }).open(), (err: unknown) => err instanceof ServiceError && err.code === status.UNAVAILABLE && /stream S did not answer/.test(err.message));
  });

  it("stops at once, without an error, when the caller aborts while no consumer answers", async () => {
    const { js, jsm } = fakeJetStream(5, [{ kind: "lost", timeoutMs: 60_000 }]);
    const cursor = await new JetStreamRecordSource(js, jsm, "S", { ...fast, hedgeMs: 60_000 }).open();
    const abort = new AbortController();
    const reading = (async () => {
      for await (const batch of cursor.batches(undefined, abort.signal)) void batch;
    })();
    abort.abort();
    await reading;
    await cursor.close();
  });

  describe("within the caller's deadline", () => {
    /** Reads until the end or an error: the seqs read, and the error. */
    async function readUntilError(source: JetStreamRecordSource, deadline: number): Promise<{ seqs: number[]; err: unknown }> {
      const seqs: number[] = [];
      try {
        const cursor = await source.open({}, { deadline });
        try {
          for await (const batch of cursor.batches()) seqs.push(...batch.map((r) => r.seq));
        } finally {
          await cursor.close();
        }
      } catch (err) {
        return { seqs, err };
      }
      return { seqs, err: undefined };
    }

    it("fails with UNAVAILABLE naming the seq to resume from, before the deadline, when consumers stall (however long the stall limit)", async () => {
      // Ten stalls of 60 s each would outlast any deadline: before, the caller got a bare DEADLINE_EXCEEDED after its whole wait.
      const { js, jsm } = fakeJetStream(6, [{ kind: "ok", delivered: 2, after: "stall" }]);
      const source = new JetStreamRecordSource(js, jsm, "S", { ...fast, stallMs: 60_000, deadlineMarginMs: 100 });
      const { seqs, err } = await readUntilError(source, Date.now() + 500);
      assert.deepEqual(seqs, [1, 2]);
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
      assert.match(err.message, /stopped before seq 3 \(no message for \d+ ms while seq 3 is stored\), and the call's deadline is near; resume with from_seq 3/);
    });

    it("fails with UNAVAILABLE when the stream does not answer at open, within the deadline rather than retryMs", async () => {
      const { js, jsm } = fakeJetStream(5, [{ kind: "ok" }], async () => {
        throw timeout();
      });
      const { err } = await readUntilError(new JetStreamRecordSource(js, jsm, "S", { ...fast, retryMs: 600_000, deadlineMarginMs: 100 }), Date.now() + 400);
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE && /stream S did not answer; nothing was read/.test(err.message), String(err));
    });

    it("gives up making a consumer within the deadline rather than retryMs", async () => {
      const { js, jsm, starts } = fakeJetStream(5, [{ kind: "lost", timeoutMs: 5 }]);
      const { err } = await readUntilError(new JetStreamRecordSource(js, jsm, "S", { ...fast, retryMs: 600_000, deadlineMarginMs: 100 }), Date.now() + 400);
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
      assert.match(err.message, /did not start a reader on stream S at seq 1; resume with from_seq 1/);
      assert.ok(starts.length >= 1);
    });

    it("answers UNAVAILABLE (not INTERNAL) when the stream leader does not answer the witness check, and passes a divergence it names as it is", async () => {
      const { js, jsm } = fakeJetStream(3, [{ kind: "ok" }]);
      const unanswered = new JetStreamRecordSource(js, jsm, "S", {
        ...fast,
        checkAcked: async () => {
          throw timeout();
        },
      });
      const { err } = await readUntilError(unanswered, Date.now() + 60_000);
      assert.ok(err instanceof ServiceError && err.code === status.UNAVAILABLE, String(err));
      assert.match(err.message, /stream leader did not answer whether it holds the newest acked record; nothing was read \(timeout\)/);
      const named = new ServiceError(status.UNAVAILABLE, "JetStream stream S lost acknowledged records: ...");
      const diverged = new JetStreamRecordSource(js, jsm, "S", {
        ...fast,
        checkAcked: async () => {
          throw named;
        },
      });
      assert.equal((await readUntilError(diverged, Date.now() + 60_000)).err, named);
    });

    it("asks the witness check to finish before the give-up time: the margin, or a quarter of the time left when that is less", async () => {
      const { js, jsm } = fakeJetStream(3, [{ kind: "ok" }]);
      const asked: number[] = [];
      const source = new JetStreamRecordSource(js, jsm, "S", { ...fast, deadlineMarginMs: 1000, checkAcked: async (until) => void asked.push(until) });
      for (const [left, margin] of [
        [60_000, 1000],
        [2000, 500],
      ]) {
        const deadline = Date.now() + left;
        const cursor = await source.open({}, { deadline });
        await cursor.close();
        const until = asked.at(-1)!;
        // The give-up time is fixed at open from the time left then (a few ms after `deadline` was set).
        assert.ok(until <= deadline - margin + 5 && until >= deadline - margin - 50, `${until - deadline} ms from the deadline, ${-margin} expected`);
      }
      // No deadline: the retry budget alone.
      const before = Date.now();
      await (await source.open()).close();
      assert.ok(asked.at(-1)! >= before + 60_000);
    });
  });

  describe("group commits (several records per message)", () => {
    const batches = (last: number, creates: Create[]) => fakeJetStream(last, creates, undefined, batchMessage);

    it("reads every record of every message, in seq order", async () => {
      const { js, jsm } = batches(4, [{ kind: "ok" }]);
      assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), Array.from({ length: 12 }, (_, i) => i + 1));
    });

    it("starts in the middle of a message: the consumer starts at the message holding fromSeq, the records before it are passed over", async () => {
      const { js, jsm, starts } = batches(4, [{ kind: "ok" }]);
      assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast), { fromSeq: 8 }), [8, 9, 10, 11, 12]);
      assert.deepEqual(starts, [3], "message 3 holds records 7-9");
    });

    it("goes on with a new consumer from the next message when one fails: no record read twice or skipped", async () => {
      const { js, jsm, starts } = batches(4, [{ kind: "ok", delivered: 1, after: "throw" }, { kind: "ok", delivered: 2, after: "end" }, { kind: "ok" }]);
      assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast)), Array.from({ length: 12 }, (_, i) => i + 1));
      assert.deepEqual(starts, [1, 2, 4]);
    });

    describe("a consumer served by a replica that holds another history (checked by the hash chain)", () => {
      const leaderIds = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}:id-${from + i}`);
      const onReplica = (divergentAt: number) => (seq: number) => (seq === divergentAt ? divergentMessage(seq) : batchMessage(seq));

      it("reads the last message known at open from the stream leader when the replica's copy is not the leader's, and tells the divergence", async () => {
        const { js, jsm } = fakeJetStream(4, [{ kind: "ok" }], undefined, onReplica(4), batchMessage);
        const told: Array<[number, boolean]> = [];
        const ids = await readIds(new JetStreamRecordSource(js, jsm, "S", { ...fast, onDivergence: (seq, _cause, mended) => told.push([seq, mended]) }));
        assert.deepEqual(ids, leaderIds(1, 12), "the leader's records, each once");
        assert.deepEqual(told, [[4, true]]);
      });

      it("checks a read's first message against the stream leader's copy", async () => {
        const { js, jsm } = fakeJetStream(4, [{ kind: "ok" }], undefined, onReplica(2), batchMessage);
        const told: number[] = [];
        assert.deepEqual(await readIds(new JetStreamRecordSource(js, jsm, "S", { ...fast, onDivergence: (seq) => told.push(seq) }), { fromSeq: 4 }), leaderIds(4, 12));
        assert.deepEqual(told, [2]);
      });

      it("ends with UNAVAILABLE naming the seqs when a message does not chain on records it already returned (they were another history's)", async () => {
        // Message 2 of the replica chains on message 1 (it passes), but the leader's message 3 chains on the leader's 2, not on it.
        const { js, jsm } = fakeJetStream(4, [{ kind: "ok" }], undefined, onReplica(2), batchMessage);
        const told: Array<[number, boolean]> = [];
        const source = new JetStreamRecordSource(js, jsm, "S", { ...fast, onDivergence: (seq, _cause, mended) => told.push([seq, mended]) });
        const cursor = await source.open();
        const got: string[] = [];
        await assert.rejects(
          (async () => {
            for await (const batch of cursor.batches()) got.push(...batch.map((r) => `${r.seq}:${r.eventId}`));
          })(),
          (err: unknown) => {
            assert.ok(err instanceof ServiceError);
            assert.equal(err.code, status.UNAVAILABLE);
            assert.match(err.message, /stream sequence 3 \(seqs 7-9\) does not chain on the one read before it/);
            assert.match(err.message, /records from seq 4 on that this read read came from a replica whose history diverged from the stream leader's; re-read from_seq 4/);
            return true;
          },
        );
        await cursor.close();
        // What was read before the error is handed out first, so the seq the error names follows on from what the caller has
        // (before, the error came before the first batch was out: a caller re-reading from seq 4 never had seqs 1-3).
        assert.deepEqual(
          got.map((id) => Number(id.split(":")[0])),
          [1, 2, 3, 4, 5, 6],
        );
        assert.deepEqual(told, [[3, false]]);
      });
    });

    it("stops at the limit inside a message, and filters by type record by record", async () => {
      const { js, jsm } = batches(4, [{ kind: "ok" }]);
      assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast), { limit: 4 }), [1, 2, 3, 4]);
      assert.deepEqual(await readAll(new JetStreamRecordSource(js, jsm, "S", fast), { eventTypes: new Set(["b"]), fromSeq: 3 }), [4, 6, 8, 10, 12]);
    });
  });
});
