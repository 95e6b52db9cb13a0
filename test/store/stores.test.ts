import assert from "node:assert/strict";
import { ConfigError, resolveConfig, usage } from "../../src/config.js";
import { serverOptions } from "../../src/options/server-options.js";
import { STORE_URL_FORMS, storeKinds, storeOptions } from "../../src/store/stores.js";

describe("the store list", () => {
  const resolve = (flags: string[], env: NodeJS.ProcessEnv = {}) => resolveConfig(["--addr", "127.0.0.1:0", ...flags], env);
  const refusal = (flags: string[], env: NodeJS.ProcessEnv = {}): string => {
    try {
      resolve(flags, env);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail(`${flags.join(" ")} was accepted`);
  };

  it("gives the option table each store's own rows, right after --store, and --help names every URL form", () => {
    const keys = Object.keys(serverOptions);
    const own = storeKinds.flatMap((k) => Object.keys(k.options));
    assert.ok(own.length > 0);
    assert.deepEqual(keys.slice(keys.indexOf("store") + 1, keys.indexOf("store") + 1 + own.length), own);
    for (const k of storeKinds) {
      assert.ok(STORE_URL_FORMS.includes(k.urlForm));
      for (const spec of Object.values(k.options)) assert.ok(usage.includes(`--${spec.flag}`), spec.flag);
    }
    assert.ok(usage.includes(STORE_URL_FORMS));
    assert.deepEqual(Object.keys(storeOptions), own);
  });

  it("refuses an option of another store, from a flag or the environment, naming it and the store it needs", () => {
    assert.equal(refusal(["--nats-token-file", "t", "--nats-ca", "c"]), "--nats-token-file and --nats-ca need --store nats://HOST:PORT[,HOST:PORT...]");
    assert.equal(refusal(["--store", "nats://h:1", "--retention-days", "3"]), "--retention-days needs --store file");
    // A row with a default counts when given, even with its default's value.
    assert.equal(refusal(["--store", "nats://h:1", "--hash-chain", "on"]), "--hash-chain needs --store file");
    assert.equal(refusal(["--store", "nats://h:1", "--segment-bytes-max", "1000", "--retention-bytes-max", "5"]), "--segment-bytes-max and --retention-bytes-max need --store file");
  });

  it("takes each store's own options with that store", () => {
    const file = resolve(["--hash-chain", "off", "--retention-days", "2", "--segment-bytes-max", "4096"]);
    assert.deepEqual(file.store, { kind: "file" });
    assert.equal(file.hashChain, false);
    assert.equal(file.retentionAgeMs, 2 * 86_400_000);
    assert.equal(file.segmentBytesMax, 4096);
    const nats = resolve(["--store", "nats://h:1", "--nats-token-file", "t", "--nats-ca", "c"]);
    assert.equal(nats.store.kind, "nats");
    assert.equal(nats.natsTokenFile, "t");
    assert.equal(nats.natsCaFile, "c");
  });
});
