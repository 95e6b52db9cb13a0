import assert from "node:assert/strict";
import { ConfigError, resolveConfig } from "../../../src/config.js";

describe("--store and the nats options", () => {
  const resolve = (flags: string[], env: NodeJS.ProcessEnv = {}) => resolveConfig(["--addr", "127.0.0.1:0", ...flags], env).store;

  it("defaults to the file store", () => {
    assert.deepEqual(resolve([]), { kind: "file" });
  });

  it("reads a JetStream cluster with its defaults, from the flag or the environment", () => {
    assert.deepEqual(resolve(["--store", "nats://127.0.0.1:4222,127.0.0.1:4223"]), {
      kind: "nats",
      servers: ["127.0.0.1:4222", "127.0.0.1:4223"],
      stream: "PULSE_LEARNING_LOG",
      subject: "pulse.learninglog.events",
      replicas: 1,
    });
    const fromEnv = resolve(["--nats-stream", "S", "--nats-subject", "a.b", "--nats-replicas", "3"], { PULSE_LEARNING_LOG_STORE: "nats://localhost:4222" });
    assert.deepEqual(fromEnv, { kind: "nats", servers: ["localhost:4222"], stream: "S", subject: "a.b", replicas: 3 });
  });

  it("rejects bad values with a message naming the flag", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--store", "kafka://x:1"], /--store must be file or nats:/],
      [["--store", "nats://host"], /--store: "host" is not HOST:PORT/],
      [["--store", "nats://h:1", "--nats-stream", "a.b"], /--nats-stream/],
      [["--store", "nats://h:1", "--nats-subject", "a.*"], /--nats-subject/],
      [["--store", "nats://h:1", "--nats-replicas", "7"], /--nats-replicas must be 1 to 5/],
      [["--nats-replicas", "3"], /^--nats-replicas needs --store nats:\/\/HOST:PORT/],
    ];
    for (const [flags, message] of cases) assert.throws(() => resolve(flags), (err: unknown) => err instanceof ConfigError && message.test(err.message), flags.join(" "));
  });
});
