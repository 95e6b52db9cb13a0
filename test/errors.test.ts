import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { ServiceError, storageError } from "../src/errors.js";

describe("ServiceError field violations", () => {
  it("invalid() names the field as data and in the message", () => {
    const e = ServiceError.invalid("data.scores.a", "NaN is not a finite number");
    assert.equal(e.code, status.INVALID_ARGUMENT);
    assert.equal(e.message, "data.scores.a: NaN is not a finite number");
    assert.deepEqual(e.violations, [{ field: "data.scores.a", description: "NaN is not a finite number" }]);
  });

  it("underField() nests the paths under a batch event's position and case", () => {
    const e = ServiceError.invalid("old_weight", "Infinity is not a finite number").underField("events[3].variable_weight_change");
    assert.equal(e.message, "events[3].variable_weight_change.old_weight: Infinity is not a finite number");
    assert.deepEqual(e.violations, [{ field: "events[3].variable_weight_change.old_weight", description: "Infinity is not a finite number" }]);
    assert.equal(ServiceError.invalid("[0]", "bad").underField("outcomes").violations[0].field, "outcomes[0]");
  });

  it("renamedField() renames the field and those under it, and leaves other fields alone", () => {
    assert.equal(ServiceError.invalid("path", "escapes the folder").renamedField("path", "filepath").message, "filepath: escapes the folder");
    assert.equal(ServiceError.invalid("outcomes[0].x", "bad").renamedField("outcomes[0]", "outcome").violations[0].field, "outcome.x");
    const other = ServiceError.invalid("paths", "bad");
    assert.equal(other.renamedField("path", "filepath"), other);
  });

  it("errors about no field carry no violations; storage errors map errnos to statuses", () => {
    assert.deepEqual(new ServiceError(status.UNAVAILABLE, "down").violations, []);
    assert.equal(storageError(Object.assign(new Error("x"), { code: "ENOSPC" })).code, status.RESOURCE_EXHAUSTED);
    assert.equal(storageError(Object.assign(new Error("x"), { code: "EIO" })).code, status.UNAVAILABLE);
  });
});
