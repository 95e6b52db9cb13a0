import assert from "node:assert/strict";
import { headers } from "@nats-io/transport-node";
import { HASH_OPEN, recordHead, recordPrefix } from "../../../src/record/layout.js";
import { chainHash } from "../../../src/store/hash-chain.js";
import {
  chainOfHeaders,
  CLIENT_IDS_HEADER,
  clientRecordsOf,
  decodeMessage,
  FIRST_SEQ_HEADER,
  LAST_SEQ_HEADER,
  lastTimestampOf,
  MessageBuilder,
  PREV_HASH_HEADER,
  rangeOfHeaders,
  rangeOfMessage,
  type EncodedRecord,
} from "../../../src/store/jetstream/record-message.js";
import { storedMessageOf } from "../../../src/store/jetstream/stored-record.js";

const TS = "2026-11-30T12:00:00.000001+00:00";
const TS2 = "2026-11-30T12:00:01.000000+00:00";
const body = (n: number) => `"event_type":"t","data":{"n":${n},"s":"caf\u00e9 \\u2028"}`;

/** Builds a message of `ids` (those starting with "c" client-chosen) from seq `first`. */
function build(first: number, ids: string[], bytesMax = 64 * 1024, records: EncodedRecord[] = ids.map(() => ({}))) {
  const builder = new MessageBuilder(bytesMax, first);
  const added = ids.map((id, i) => builder.add(records[i], id, recordHead(i < 2 ? TS : TS2), body(i), id.startsWith("c")));
  return { builder, added, records, data: builder.bytes, headers: builder.headers() };
}

describe("JetStream record messages", () => {
  it("encodes a group commit as the file store's hash-chained lines, seqs consecutive, with headers naming the range, the chain's hashes before and after, and the client-chosen ids", () => {
    const { data, headers: h, added, builder } = build(41, ["c1", "s2", "c3", "c4"]);
    assert.deepEqual(added, ["added", "added", "added", "added"]);
    let tip = "";
    const expected = ["c1", "s2", "c3", "c4"]
      .map((id, i) => {
        const prefix = recordPrefix(id, recordHead(i < 2 ? TS : TS2), body(i), 41 + i);
        tip = chainHash(tip, Buffer.from(prefix));
        return `${prefix}${HASH_OPEN}${tip}"}\n`;
      })
      .join("");
    assert.equal(data.toString("utf8"), expected);
    assert.equal(builder.tip, tip);
    assert.deepEqual(chainOfHeaders(h), { prev: "", last: tip });
    assert.equal(h.get(PREV_HASH_HEADER), "none");
    // The next message chains on this one's last hash.
    const next = new MessageBuilder(64 * 1024, 45, tip);
    next.add({}, "c5", recordHead(TS2), body(5), false);
    assert.deepEqual(chainOfHeaders(next.headers()), { prev: tip, last: next.tip });
    assert.equal(next.tip, chainHash(tip, Buffer.from(recordPrefix("c5", recordHead(TS2), body(5), 45))));
    assert.deepEqual([h.get(FIRST_SEQ_HEADER), h.get(LAST_SEQ_HEADER), h.get(CLIENT_IDS_HEADER)], ["41", "44", "0-0,2-3"]);
    assert.deepEqual(rangeOfHeaders(h), { first: 41, last: 44 });
  });

  it("takes a body as UTF-8 bytes (a writer's sink) exactly as its text: the same message, hashes, and full or too-large answers", () => {
    const bodies = Array.from({ length: 40 }, (_, i) => `"event_type":"t","data":{"n":${i},"s":"${"é✓".repeat(i * 7)}"}`);
    const sink = Buffer.from(`..${bodies.join("")}..`);
    const ranges: Array<{ bodyUtf8: Buffer; bodyStart: number; bodyEnd: number }> = [];
    let at = 2;
    for (const b of bodies) {
      const n = Buffer.byteLength(b);
      ranges.push({ bodyUtf8: sink, bodyStart: at, bodyEnd: at + n });
      at += n;
    }
    // Small messages: some records fill one, and the largest fit in none.
    for (const bytesMax of [64 * 1024, 2_000, 700]) {
      const asText = new MessageBuilder(bytesMax, 7, "");
      const asBytes = new MessageBuilder(bytesMax, 7, "");
      const answers = bodies.map((b, i) => [asText.add({}, `c${i}`, recordHead(TS), b, i % 2 === 0), asBytes.add({}, `c${i}`, recordHead(TS), ranges[i], i % 2 === 0)]);
      for (const [text, bytes] of answers) assert.equal(bytes, text);
      assert.ok(bytesMax > 10_000 || answers.some(([text]) => text !== "added"));
      assert.deepEqual(asBytes.bytes, asText.bytes);
      assert.equal(asBytes.tip, asText.tip);
    }
  });

  it("chains records across seqs of more digits and across its buffer growing from a small first size", () => {
    const ids = Array.from({ length: 120 }, (_, i) => `c${i}`);
    const builder = new MessageBuilder(1024 * 1024, 9_999_990, "", 1);
    for (const [i, id] of ids.entries()) assert.equal(builder.add({}, id, recordHead(TS), body(i), true), "added");
    let tip = "";
    const expected = ids
      .map((id, i) => {
        const prefix = recordPrefix(id, recordHead(TS), body(i), 9_999_990 + i);
        tip = chainHash(tip, Buffer.from(prefix));
        return `${prefix}${HASH_OPEN}${tip}"}\n`;
      })
      .join("");
    assert.equal(builder.bytes.toString("utf8"), expected);
    assert.equal(builder.tip, tip);
  });

  it("chains a message on the hash before it through a growing buffer, reads the same twice, and builds it again on another hash from its encoded bytes", () => {
    const ids = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? `s${i}` : `c${i}`));
    const expected = (prev: string, first: number) => {
      let tip = prev;
      const text = ids
        .map((id, i) => {
          const prefix = recordPrefix(id, recordHead(TS), body(i), first + i);
          tip = chainHash(tip, Buffer.from(prefix));
          return `${prefix}${HASH_OPEN}${tip}"}\n`;
        })
        .join("");
      return { text, tip };
    };
    const before = chainHash("", Buffer.from("the record before"));
    const records: EncodedRecord[] = ids.map(() => ({}));
    const builder = new MessageBuilder(1024 * 1024, 98, before, 1);
    for (const [i, id] of ids.entries()) assert.equal(builder.add(records[i], id, recordHead(TS), body(i), id.startsWith("c")), "added");
    const want = expected(before, 98);
    assert.equal(builder.bytes.toString("utf8"), want.text);
    assert.equal(builder.bytes.toString("utf8"), want.text, "reading the bytes again changes nothing");
    assert.equal(builder.tip, want.tip);
    assert.deepEqual(chainOfHeaders(builder.headers()), { prev: before, last: want.tip });
    // Another front end took the turn: the same records on its last hash, from its next seq.
    const other = chainHash("", Buffer.from("another front end's record"));
    const again = new MessageBuilder(1024 * 1024, 250, other, 1);
    for (const [i, id] of ids.entries()) assert.equal(again.add(records[i], id, recordHead(TS), body(i), id.startsWith("c")), "added");
    assert.equal(again.bytes.toString("utf8"), expected(other, 250).text);
    assert.equal(again.tip, expected(other, 250).tip);
    assert.throws(() => new MessageBuilder(1024 * 1024, 1, "not a hash"), /chains on a SHA-256 in hex/);
  });

  it("adds records after its bytes were read: the last line's end moves on and the chain goes on", () => {
    const builder = new MessageBuilder(64 * 1024, 1);
    builder.add({}, "c1", recordHead(TS), body(1), true);
    const one = builder.bytes.toString("utf8");
    builder.add({}, "c2", recordHead(TS), body(2), true);
    const first = recordPrefix("c1", recordHead(TS), body(1), 1);
    const tip1 = chainHash("", Buffer.from(first));
    const second = recordPrefix("c2", recordHead(TS), body(2), 2);
    const tip2 = chainHash(tip1, Buffer.from(second));
    assert.equal(one, `${first}${HASH_OPEN}${tip1}"}\n`);
    assert.equal(builder.bytes.toString("utf8"), `${first}${HASH_OPEN}${tip1}"}\n${second}${HASH_OPEN}${tip2}"}\n`);
  });

  it("says none when no id was chosen by a client, and leaves the header out when the ranges would not fit", () => {
    assert.equal(build(1, ["s1", "s2"]).headers.get(CLIENT_IDS_HEADER), "none");
    const alternating = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? `c${i}` : `s${i}`));
    assert.equal(build(1, alternating, 1024 * 1024).headers.has(CLIENT_IDS_HEADER), false);
  });

  it("builds a message again with other seqs from the bytes encoded the first time, byte for byte what a fresh encoding gives", () => {
    const ids = ["c1", "s2", "c3"];
    const first = build(5, ids);
    // Another front end took the turn: the same records, now from seq 12.
    const again = build(12, ids, 64 * 1024, first.records);
    assert.equal(again.data.toString(), build(12, ids).data.toString());
    assert.ok(first.records.every((r) => r.encoded !== undefined && r.encodedLength! > 0));
  });

  it("stops at the byte bound: a record that does not fit beside others is left for the next message, one that fits in none is refused", () => {
    // Room for two records (each also keeps room for the longest seq and its hash, 92 bytes with `"}\n`, while it is added).
    const two = build(1, ["a", "b"]).data.length;
    const { added } = build(1, ["a", "b", "c"], two + 16);
    assert.deepEqual(added, ["added", "added", "full"]);
    const tiny = new MessageBuilder(40, 1);
    assert.equal(tiny.add({}, "a", recordHead(TS), body(1), false), "too-large");
    assert.equal(tiny.count, 0);
  });

  it("reads a batch message back as records with their seqs, the lines as written", () => {
    const { data, headers: h } = build(7, ["c1", "s2", "c3"]);
    const decoded = decodeMessage(99, data, h);
    assert.equal(decoded.kind, "batch");
    assert.deepEqual(
      decoded.records.map((r) => [r.seq, r.eventId, r.timestamp, r.eventType]),
      [
        [7, "c1", TS, "t"],
        [8, "s2", TS, "t"],
        [9, "c3", TS2, "t"],
      ],
    );
    const line = JSON.parse(decoded.records[2].json) as Record<string, unknown>;
    assert.deepEqual(Object.keys(line), ["event_id", "timestamp", "event_type", "data", "seq", "hash"]);
    assert.equal(line.seq, 9);
    assert.equal(decoded.records[1].fieldLength("json"), Buffer.byteLength(decoded.records[1].json));
    const out = Buffer.alloc(64);
    assert.equal(out.toString("latin1", 0, decoded.records[0].copyField("timestamp", out, 0)), TS);
    assert.equal(lastTimestampOf(99, data, h), Date.parse("2026-11-30T12:00:01Z") * 1000);
  });

  it("reads a record stored one per message without headers (earlier versions) at its stream sequence; anything else is not a record", () => {
    const single = Buffer.from(storedMessageOf("old-1", TS, body(1)));
    const decoded = decodeMessage(17, single, undefined);
    assert.equal(decoded.kind, "single");
    assert.deepEqual(decoded.records.map((r) => [r.seq, r.eventId]), [[17, "old-1"]]);
    assert.equal(JSON.parse(decoded.records[0].json).seq, 17);
    assert.deepEqual(rangeOfMessage(17, single, undefined), { first: 17, last: 17 });
    for (const other of ["not a record", "{}", '{"event_id":"x"}']) {
      assert.equal(decodeMessage(3, Buffer.from(other), undefined).kind, "other", other);
      assert.equal(rangeOfMessage(3, Buffer.from(other), undefined), undefined);
    }
  });

  it("does not take a message whose lines do not match its headers' range for records", () => {
    const { data } = build(7, ["a", "b"]);
    const h = headers();
    h.set(FIRST_SEQ_HEADER, "7");
    h.set(LAST_SEQ_HEADER, "9"); // three records named, two lines there
    assert.equal(decodeMessage(1, data, h).kind, "other");
    h.set(LAST_SEQ_HEADER, "6");
    assert.equal(rangeOfHeaders(h), undefined, "last before first");
  });

  it("gives a dedup window only the records whose ids a client chose, or all of them when the message does not say", () => {
    const { data, headers: h } = build(20, ["c1", "s2", "c3", "c4", "s5"]);
    assert.deepEqual(clientRecordsOf(1, data, h).map((r) => [r.seq, r.eventId, r.timestamp]), [
      [20, "c1", TS],
      [22, "c3", TS2],
      [23, "c4", TS2],
    ]);
    h.delete(CLIENT_IDS_HEADER);
    assert.equal(clientRecordsOf(1, data, h).length, 5);
    h.set(CLIENT_IDS_HEADER, "3-1");
    assert.equal(clientRecordsOf(1, data, h).length, 5, "a header that does not read counts as absent");
    h.set(CLIENT_IDS_HEADER, "none");
    assert.deepEqual(clientRecordsOf(1, data, h), []);
  });
});
