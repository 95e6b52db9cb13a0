import assert from "node:assert/strict";
import { atLeast, parseVersion, RECOMMENDED_NATS_SERVER, versionWarning } from "../../../src/store/jetstream/server-version.js";

describe("nats-server version", () => {
  it("reads releases as nats-server reports them", () => {
    assert.deepEqual(parseVersion("2.9.10"), [2, 9, 10]);
    assert.deepEqual(parseVersion("v2.12.1-RC.2"), [2, 12, 1]);
    assert.equal(parseVersion("dev"), undefined);
    assert.equal(parseVersion(undefined), undefined);
  });

  it("compares by number, not by text", () => {
    assert.equal(RECOMMENDED_NATS_SERVER, "2.12.0");
    assert.ok(atLeast("2.12.0", "2.12.0"));
    assert.ok(atLeast("2.12.1", "2.12.0"));
    assert.ok(atLeast("3.0.0", "2.12.0"));
    assert.ok(!atLeast("2.9.10", "2.12.0"), "2.9 is older than 2.12 though '9' > '1'");
    assert.ok(!atLeast("2.11.9", "2.12.0"));
    assert.ok(!atLeast("nonsense", "2.12.0"));
  });

  it("warns below the recommended release, saying what the server lacks", () => {
    assert.equal(versionWarning("2.12.1"), undefined);
    const old = versionWarning("2.9.10");
    assert.match(old!, /nats-server 2\.9\.10 is older than 2\.12\.0/);
    assert.match(old!, /no setting to fsync before an ack/);
    assert.match(versionWarning("2.10.23")!, /set jetstream \{ sync_interval: always \}/);
    assert.match(versionWarning(undefined)!, /of an unknown version/);
  });
});
