import { setFlagsFromString } from "node:v8";

/**
 * Applies the V8 settings of a server process (`npm start` and `pulse-log
 * serve` call it before starting the server).
 *
 * Allocation-site pretenuring makes V8 allocate objects from sites whose
 * objects survived a few scavenges straight into the old generation. Under
 * sustained ingest nearly every such site (decoded requests, drafts, record
 * strings) is one whose objects die a few milliseconds later, once their
 * batch is encoded: pretenured, they pile up as old-generation garbage until
 * the next full collection. Off, measured with 4 million events over
 * IngestEvents: peak RSS about 28 MB lower and 3-7 % more events/s.
 *
 * The old generation may grow to twice its live size between full
 * collections (--heap-growing-percent=100): the server's live heap is about
 * 20 MB, and V8's default let old-space garbage reach 3-5x that, peaks of
 * 189-229 MB RSS over 10 M seed-mix events against 150-167 MB with this
 * setting, at no CPU per event the long runs could see (bench/RESULTS.md).
 * V8 refuses it in NODE_OPTIONS, so it is set here.
 */
export function applyServerV8Settings(): void {
  setFlagsFromString("--no-allocation-site-pretenuring");
  setFlagsFromString("--heap-growing-percent=100");
}
