import assert from "node:assert/strict";
import type { StoredMsg } from "@nats-io/jetstream";
import { recordHead } from "../../../src/record/layout.js";
import { formatTimestamp } from "../../../src/clock.js";
import { chainOfHeaders, MessageBuilder } from "../../../src/store/jetstream/record-message.js";
import { storedMessageOf } from "../../../src/store/jetstream/stored-record.js";
import { lastRecordAt, RecentMessages, streamSeqAtTime, streamSeqOfRecord, type MessageGetter } from "../../../src/store/jetstream/stream-positions.js";

/** What a stream holds at each stream sequence (1-based): a group commit of `records`, an old single record, a foreign message, or nothing (deleted). */
type Stored = { batch: number; micros: number } | { single: true; micros: number } | "foreign" | "deleted";

/** A fake stream of these messages, and a getter that counts its gets. */
function stream(layout: Stored[]) {
  const messages = new Map<number, StoredMsg>();
  let seq = 0;
  let tip = "";
  layout.forEach((m, i) => {
    const streamSeq = i + 1;
    if (m === "deleted") return;
    if (m === "foreign") {
      messages.set(streamSeq, { seq: streamSeq, data: Buffer.from("hello"), header: undefined } as unknown as StoredMsg);
      return;
    }
    if ("single" in m) {
      seq = streamSeq;
      messages.set(streamSeq, { seq: streamSeq, data: Buffer.from(storedMessageOf(`old-${streamSeq}`, formatTimestamp(m.micros), `"event_type":"t","data":{}`)), header: undefined } as unknown as StoredMsg);
      return;
    }
    const builder = new MessageBuilder(1024 * 1024, seq + 1, tip);
    for (let r = 0; r < m.batch; r++) builder.add({}, `id-${seq + 1 + r}`, recordHead(formatTimestamp(m.micros + r)), `"event_type":"t","data":{}`, false);
    seq += m.batch;
    tip = builder.tip;
    messages.set(streamSeq, { seq: streamSeq, data: builder.bytes, header: builder.headers() } as unknown as StoredMsg);
  });
  let gets = 0;
  const get: MessageGetter = async (s) => {
    gets++;
    return messages.get(s) ?? null;
  };
  return { get, gets: () => gets };
}

const T = Date.parse("2026-11-30T12:00:00Z") * 1000;

describe("finding records on a stream", () => {
  // Records 1-2 were written one per message by an earlier version; then group commits.
  const layout: Stored[] = [{ single: true, micros: T }, { single: true, micros: T + 10 }, { batch: 5, micros: T + 20 }, "foreign", { batch: 3, micros: T + 30 }, "deleted", { batch: 10, micros: T + 40 }, "foreign"];
  // Records by message: 1 | 2 | 3..7 | - | 8..10 | - | 11..20 | -

  it("finds the message holding a seq with a binary search over the messages' seq headers", async () => {
    const { get, gets } = stream(layout);
    const at = async (seq: number) => streamSeqOfRecord(seq, 1, 8, get);
    assert.equal(await at(1), 1);
    assert.equal(await at(2), 2);
    assert.equal(await at(3), 3);
    assert.equal(await at(7), 3, "the middle of a group commit");
    // A message that is not a record cannot tell: the search may stop on it, just before the one holding the seq (a reader skips it).
    assert.ok([4, 5].includes(await at(8)));
    assert.ok([4, 5].includes(await at(9)));
    assert.ok([6, 7].includes(await at(15)), "a deleted message cannot tell either");
    assert.ok([8, 9].includes(await at(21)), "past the last record: its end (or the foreign message after it)");
    assert.ok(gets() < 8 * 8, "a few gets per search, not a scan");
  });

  it("finds the first message whose last record is at or after a time", async () => {
    const { get } = stream(layout);
    assert.equal(await streamSeqAtTime(T, 1, 8, get), 1);
    assert.equal(await streamSeqAtTime(T + 5, 1, 8, get), 2);
    assert.equal(await streamSeqAtTime(T + 24, 1, 8, get), 3, "the last record of message 3 is at T+24");
    assert.ok([4, 5].includes(await streamSeqAtTime(T + 25, 1, 8, get)));
    assert.ok([8, 9].includes(await streamSeqAtTime(T + 1000, 1, 8, get)));
  });

  it("finds the stream's last record past other programs' messages, within the steps it is given", async () => {
    const { get } = stream(layout);
    const hashOf = async (s: number) => chainOfHeaders((await get(s))!.header)!.last;
    assert.deepEqual(await lastRecordAt(8, 1, get), { recordSeq: 20, streamSeq: 7, hash: await hashOf(7) });
    assert.deepEqual(await lastRecordAt(4, 1, get), { recordSeq: 7, streamSeq: 3, hash: await hashOf(3) });
    assert.equal(await lastRecordAt(8, 1, get, 1), undefined, "one step sees only the foreign message");
    assert.equal(await lastRecordAt(0, 1, get), undefined, "an empty stream");
  });
});

describe("the latest messages a front end saw", () => {
  it("tells where a seq near the end is without a search: the message holding it, or the one after the stretch", () => {
    const recent = new RecentMessages();
    recent.add(10, { first: 101, last: 150 });
    recent.add(11, "none"); // another program's message
    recent.add(12, { first: 151, last: 151 });
    recent.add(13, { first: 152, last: 300 });
    assert.equal(recent.find(100), undefined, "before the stretch: search");
    assert.equal(recent.find(101), 10);
    assert.equal(recent.find(150), 10);
    assert.equal(recent.find(151), 12, "past the foreign message");
    assert.equal(recent.find(200), 13);
    assert.equal(recent.find(301), 14, "after the last one: the next message");
    recent.add(12, { first: 1, last: 1 });
    assert.equal(recent.find(151), 12, "a message already held is not taken again");
  });

  it("starts again when a message does not follow the last one, or cannot be told, and keeps the newest half past its bound", () => {
    const recent = new RecentMessages(4);
    recent.add(1, { first: 1, last: 10 });
    recent.add(3, { first: 20, last: 30 }); // message 2 was not seen
    assert.equal(recent.find(15), undefined, "the stretch now starts at message 3");
    assert.equal(recent.find(25), 3);
    recent.add(4, "unknown");
    assert.equal(recent.find(25), undefined, "a message it cannot tell about ends the stretch");
    recent.add(5, "none");
    assert.equal(recent.find(25), undefined, "a stretch starts at a message with records");
    for (let m = 6; m <= 11; m++) recent.add(m, { first: m * 10, last: m * 10 + 9 });
    assert.equal(recent.find(65), undefined, "the oldest messages were dropped");
    assert.equal(recent.find(105), 10);
    assert.equal(recent.find(119), 11);
  });
});
