import { randomFillSync } from "node:crypto";

/** Ids drawn per fill of the random pool: one randomFillSync for a batch's worth of event ids. */
const IDS_PER_FILL = 512;
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * Random (version 4, RFC 9562) UUIDs for events the client sent without an
 * event_id, in lower case as the log writes them. Random bytes are drawn in
 * bulk, one randomFillSync per 512 ids, and formatted by hand.
 */
export class EventIds {
  private readonly pool = Buffer.alloc(16 * IDS_PER_FILL);
  private next = IDS_PER_FILL;

  /** A new random UUID. */
  uuid(): string {
    if (this.next === IDS_PER_FILL) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    const b = this.pool;
    const o = 16 * this.next++;
    return (
      HEX[b[o]] + HEX[b[o + 1]] + HEX[b[o + 2]] + HEX[b[o + 3]] + "-" +
      HEX[b[o + 4]] + HEX[b[o + 5]] + "-" +
      // Version 4 in the high nibble of byte 6; the variant (10xx) in the high bits of byte 8.
      HEX[(b[o + 6] & 0x0f) | 0x40] + HEX[b[o + 7]] + "-" +
      HEX[(b[o + 8] & 0x3f) | 0x80] + HEX[b[o + 9]] + "-" +
      HEX[b[o + 10]] + HEX[b[o + 11]] + HEX[b[o + 12]] + HEX[b[o + 13]] + HEX[b[o + 14]] + HEX[b[o + 15]]
    );
  }
}
