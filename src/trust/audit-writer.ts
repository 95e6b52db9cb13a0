import { v4 as uuidv4 } from "uuid";
import type { EventDraft } from "../events/catalog.js";
import { ServiceError } from "../errors.js";
import { createPiiGuard, type PiiOptions } from "../guard/pii.js";
import { bodyInRun, bodyOf } from "../record/body.js";
import { currentRun } from "../runs/call-run.js";
import type { LogStore } from "../store/store.js";

/** Writes one audit record and resolves with its seq once durable. */
export type AuditWriter = (draft: EventDraft) => Promise<number>;

/**
 * The audit writer of the in-process tracker: appends the tracker's own
 * records straight to the store, byte for byte as built. They skip the
 * event writer's PII redaction on purpose: a redacted key or MAC could not
 * be replayed. Instead, client-chosen strings that go into audit records
 * (keys, import file paths) are screened before anything is written: see
 * {@link createAuditScreen}.
 */
export function createAuditWriter(store: LogStore, recordBytesMax: number): AuditWriter {
  return async (draft: EventDraft) => {
    // The run of the call that changed the state, if it named one.
    const run = currentRun.getStore();
    const body = bodyInRun(bodyOf(draft.eventType, draft.data, draft.context), run);
    const bytes = Buffer.byteLength(body, "utf8");
    if (bytes > recordBytesMax) throw ServiceError.invalid("event", `record of ${bytes} bytes is over the limit of ${recordBytesMax} bytes`);
    const [result] = await store.append([{ eventId: uuidv4(), clientChosenId: false, body, run, eventType: draft.eventType }]);
    return result.seq;
  };
}

/** Refuses a client-chosen string bound for an audit record; throws INVALID_ARGUMENT naming `field`. */
export type AuditScreen = (text: string, field: string) => void;

/**
 * Builds the screen for strings that audit records keep verbatim: when the
 * PII guard is on, a string it would redact (an e-mail address, a card
 * number) is refused, since the audit trail can neither redact it (replay
 * needs it exact) nor hold personal data.
 */
export function createAuditScreen(pii: PiiOptions): AuditScreen | undefined {
  if (pii.mode === "off") return undefined;
  const guard = createPiiGuard({ ...pii, mode: "redact" });
  return (text, field) => {
    const redacted: string[] = [];
    guard(text, field, redacted);
    if (redacted.length > 0) {
      throw ServiceError.invalid(field, "looks like personal data (an e-mail address or card number); the trust audit trail keeps keys and file names verbatim, so they must not hold personal data");
    }
  };
}
