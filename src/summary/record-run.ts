/**
 * The run a record belongs to, as the summary reads it: the record's
 * top-level "run" member, which the record contract places right before
 * "seq" (`...,"data":{..}[,"context":{..}],"run":"exp-42","seq":N[,"hash":".."]}`).
 * A run id holds no `"` and no `\`, so the member is found from the end of
 * the line without parsing the record: the last `,"seq":` is the top-level
 * one (everything after it is a number and a hex hash), and the member
 * before it is the run when it reads `,"run":"<id>"`. A string inside data
 * that looks like it cannot match, because its quotes are escaped.
 * (The store's `runOfLine` reads the same from a line's bytes; the summary
 * gets records as text, from the Reader or from ReadEvents.)
 */

const SEQ_KEY = ',"seq":';
const RUN_KEY = ',"run":"';

/** The run a record's JSON line names, or undefined when it names none. */
export function runOfRecordJson(json: string): string | undefined {
  const seqKey = json.lastIndexOf(SEQ_KEY);
  if (seqKey < 1 || json.charCodeAt(seqKey - 1) !== 0x22 /* " */) return undefined;
  const open = json.lastIndexOf('"', seqKey - 2);
  if (open < RUN_KEY.length - 1 || !json.startsWith(RUN_KEY, open - RUN_KEY.length + 1)) return undefined;
  return json.slice(open + 1, seqKey - 1);
}
