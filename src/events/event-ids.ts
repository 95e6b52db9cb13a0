import { randomFillSync } from "node:crypto";

/** Ids drawn per fill of the random pool: one randomFillSync for a batch's worth of event ids. */
const IDS_PER_FILL = 512;
/** Characters of a UUID's text. */
const UUID_CHARS = 36;
/** The two lower-case hex digits of each byte value, as ASCII codes. */
const HEX_HIGH = Uint8Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0").charCodeAt(0));
const HEX_LOW = Uint8Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0").charCodeAt(1));
const DASH = 0x2d;

/**
 * Random (version 4, RFC 9562) UUIDs for events the client sent without an
 * event_id, in lower case as the log writes them. Random bytes are drawn in
 * bulk, one randomFillSync per 512 ids, and the 512 ids are formatted as one
 * string; each id is a slice of it. A slice is flat, so writing a record
 * that holds one copies it as it is, where an id concatenated from 20 pieces
 * was first flattened into a new string, per record.
 */
export class EventIds {
  private readonly pool = Buffer.alloc(16 * IDS_PER_FILL);
  private readonly hex = Buffer.alloc(UUID_CHARS * IDS_PER_FILL);
  private text = "";
  private next = IDS_PER_FILL;

  /** A new random UUID. */
  uuid(): string {
    if (this.next === IDS_PER_FILL) this.fill();
    const at = UUID_CHARS * this.next++;
    return this.text.substring(at, at + UUID_CHARS);
  }

  /** Draws the random bytes of the next 512 ids and formats them. */
  private fill(): void {
    randomFillSync(this.pool);
    const b = this.pool;
    const h = this.hex;
    let w = 0;
    for (let o = 0; o < b.length; o += 16) {
      for (let k = 0; k < 16; k++) {
        let v = b[o + k];
        // Version 4 in the high nibble of byte 6; the variant (10xx) in the high bits of byte 8.
        if (k === 6) v = (v & 0x0f) | 0x40;
        else if (k === 8) v = (v & 0x3f) | 0x80;
        h[w++] = HEX_HIGH[v];
        h[w++] = HEX_LOW[v];
        if (k === 3 || k === 5 || k === 7 || k === 9) h[w++] = DASH;
      }
    }
    this.text = h.toString("latin1");
    this.next = 0;
  }
}
