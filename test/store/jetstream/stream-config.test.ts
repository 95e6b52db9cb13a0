import assert from "node:assert/strict";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { systemClock } from "../../../src/clock.js";
import { resolveConfig, type ServerConfig } from "../../../src/config.js";
import { JetStreamStore } from "../../../src/store/jetstream/jetstream-store.js";
import { openJetStreamStore } from "../../../src/store/jetstream/open-jetstream-store.js";
import { atLeast, RECOMMENDED_NATS_SERVER } from "../../../src/store/jetstream/server-version.js";
import { subjectMatches } from "../../../src/store/jetstream/stream-config.js";
import type { JetStreamStoreChoice } from "../../../src/store/jetstream/store-choice.js";
import { tempDir, type TempDir } from "../../helpers/server.js";
import { startNats, type NatsCluster } from "./nats-servers.js";

type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A logger whose lines are kept, parsed. */
function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

describe("NATS subject filters", () => {
  it("match literal subjects as NATS does: * one token, > one or more at the end", () => {
    assert.ok(subjectMatches("pulse.learninglog.events", "pulse.learninglog.events"));
    assert.ok(subjectMatches("pulse.*.events", "pulse.learninglog.events"));
    assert.ok(subjectMatches("pulse.>", "pulse.learninglog.events"));
    assert.ok(subjectMatches(">", "_PULSE.turns.S"));
    assert.ok(!subjectMatches("pulse.>", "pulse"));
    assert.ok(!subjectMatches("pulse.*", "pulse.learninglog.events"));
    assert.ok(!subjectMatches("pulse.learninglog", "pulse.learninglog.events"));
    assert.ok(!subjectMatches("pulse.learninglog.events.x", "pulse.learninglog.events"));
  });
});

describe("the stream a JetStream store opens on, and the server it talks to", function () {
  this.timeout(60_000);
  let dir: TempDir;
  let nats: NatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let no = 0;
  before(async () => {
    dir = await tempDir("pulse-nats-config-");
    nats = await startNats(dir.path, 1);
    nc = await connect({ servers: nats.servers });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc?.close();
    await nats?.stop();
    await dir?.remove();
  });

  const fresh = () => ({ stream: `CONFIG_${++no}`, subject: `config.${no}.events` });

  /** The server's config for a store on `stream`, as the flags give it. */
  const configFor = (where: { stream: string; subject: string }, more: string[] = []) =>
    resolveConfig(["--addr", "127.0.0.1:0", "--log-path", join(dir.path, `front-${no}`, "l.jsonl"), "--store", nats.storeUrl, "--nats-stream", where.stream, "--nats-subject", where.subject, ...more], {}) as ServerConfig & {
      store: JetStreamStoreChoice;
    };

  it("logs the nats-server version at open, and warns when it is older than the docs recommend", async () => {
    const where = fresh();
    const { logger, lines, warnings } = capturingLogger();
    const store = await openJetStreamStore(configFor(where), { clock: systemClock, logger });
    await store.close();
    const opened = lines.find((l) => l.msg === "JetStream log opened");
    assert.ok(opened, "the open line");
    assert.equal(opened.natsServerVersion, nats.version, "the version the server reports, as `nats-server --version` prints it");
    const versionWarnings = warnings().filter((l) => /older than/.test(l.msg));
    if (atLeast(nats.version, RECOMMENDED_NATS_SERVER)) {
      assert.deepEqual(versionWarnings, []);
    } else {
      // The Debian package here is 2.9.10: this branch is the one that runs.
      assert.equal(versionWarnings.length, 1);
      assert.equal(versionWarnings[0].natsServerVersion, nats.version);
      assert.match(versionWarnings[0].msg, new RegExp(`nats-server ${nats.version!.replace(/\./g, "\\.")} is older than 2\\.12\\.0.*sync_interval: always`));
    }
  });

  it("refuses a stream kept in memory: acked records would not survive a restart of its servers", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], storage: StorageType.Memory, duplicate_window: 120e9 });
    await assert.rejects(JetStreamStore.open({ servers: nats.servers, ...where }), (err: Error) => {
      assert.match(err.message, new RegExp(`JetStream stream ${where.stream} keeps its messages in memory \\(storage: memory\\).*use a stream with file storage`));
      return true;
    });
  });

  it("refuses a duplicate window shorter than the publish retry horizon, naming both", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 5e9 });
    await assert.rejects(JetStreamStore.open({ servers: nats.servers, ...where }), (err: Error) => {
      assert.match(err.message, new RegExp(`stream ${where.stream} has a duplicate window of 5 s, shorter than this server's publish retry horizon of 30 s`));
      assert.match(err.message, /duplicate_window of at least 30 s/);
      return true;
    });
    // The same stream is fine for a front end whose horizon fits in it.
    const { store } = await JetStreamStore.open({ servers: nats.servers, ...where, publishRetryMs: 5000 });
    await store.close();
  });

  it("makes a missing stream with file storage and a duplicate window that covers the horizon", async () => {
    const where = fresh();
    const { store, report } = await JetStreamStore.open({ servers: nats.servers, ...where });
    await store.close();
    assert.equal(report.created, true);
    const info = await jsm.streams.info(where.stream);
    assert.equal(info.config.storage, StorageType.File);
    assert.equal(info.config.duplicate_window, 120e9);
    assert.equal(info.config.allow_direct, true);
  });

  it("opens on a stream that captures the subject with wildcards", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [`config.${no}.>`], duplicate_window: 120e9 });
    const { store } = await JetStreamStore.open({ servers: nats.servers, ...where });
    assert.deepEqual((await store.append([{ eventId: "3f1c2d4e-0000-4000-8000-000000000001", body: '"event_type":"t","data":{}' }])).map((r) => r.seq), [1]);
    await store.close();
  });

  it("warns when the stream was emptied (purged, or expired by its limits): seqs then go on after its last stream sequence", async () => {
    const where = fresh();
    const first = await JetStreamStore.open({ servers: nats.servers, ...where });
    await first.store.append([1, 2, 3].map((n) => ({ eventId: `3f1c2d4e-0000-4000-8000-00000000000${n}`, body: '"event_type":"t","data":{}' })));
    await first.store.close();
    await jsm.streams.purge(where.stream);
    const { logger, warnings } = capturingLogger();
    const store = await openJetStreamStore(configFor(where), { clock: systemClock, logger });
    const [next] = await store.append([{ eventId: "3f1c2d4e-0000-4000-8000-000000000009", body: '"event_type":"t","data":{}' }]);
    await store.close();
    const emptied = warnings().find((l) => /holds no record/.test(l.msg));
    assert.ok(emptied);
    assert.equal(emptied.lastStreamSeq, 1, "one message held the three records");
    assert.equal(next.seq, 2, "after the last stream sequence: below the seqs the stream held (the documented limit)");
  });

  it("opens an existing stream with another replica count, with a warning naming both", async () => {
    const where = fresh();
    await jsm.streams.add({ name: where.stream, subjects: [where.subject], duplicate_window: 120e9, num_replicas: 1 });
    const { logger, warnings } = capturingLogger();
    const store = await openJetStreamStore(configFor(where, ["--nats-replicas", "3"]), { clock: systemClock, logger });
    await store.close();
    const replicas = warnings().find((l) => /another replica count/.test(l.msg));
    assert.ok(replicas, "the warning");
    assert.deepEqual([replicas.stream, replicas.replicas, replicas.asked], [where.stream, 1, 3]);
  });
});
