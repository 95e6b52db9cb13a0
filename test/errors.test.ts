import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { errnoKind, fileError, ServiceError, storageError } from "../src/errors.js";

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

describe("the errno table", () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

  it("sorts errnos into full, not permitted and failed", () => {
    assert.equal(errnoKind("ENOSPC"), "full");
    assert.equal(errnoKind("EDQUOT"), "full");
    for (const code of ["EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR"]) assert.equal(errnoKind(code), "not-permitted");
    assert.equal(errnoKind("EIO"), "failed");
    assert.equal(errnoKind(undefined), "failed");
  });

  it("storage errors and file errors read the same table, each in its own words", () => {
    assert.equal(storageError(errno("EDQUOT")).code, status.RESOURCE_EXHAUSTED);
    assert.equal(storageError(errno("EACCES")).message, "log storage failed (EACCES); nothing was written");
    const full = fileError(errno("ENOSPC"), 'path: cannot write "t.json"');
    assert.deepEqual([full.code, full.message], [status.RESOURCE_EXHAUSTED, 'path: cannot write "t.json": no space left on the device']);
    const refused = fileError(errno("EROFS"), 'path: cannot write "t.json"');
    assert.deepEqual([refused.code, refused.message], [status.FAILED_PRECONDITION, 'path: cannot write "t.json": the server may not do that (EROFS)']);
    const failed = fileError(new Error("boom"), 'path: cannot read "t.json"');
    assert.deepEqual([failed.code, failed.message], [status.UNAVAILABLE, 'path: cannot read "t.json": the file system failed (unknown error)']);
    const own = ServiceError.invalid("path", "bad");
    assert.equal(fileError(own, "x"), own);
  });
});
