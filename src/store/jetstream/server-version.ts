/**
 * The nats-server release docs/jetstream.md recommends: from 2.10 on,
 * `jetstream { sync_interval: always }` makes a server fsync each write
 * before it acknowledges it (earlier releases have no such setting and sync
 * in the background, every two minutes by default); 2.12 is the release the
 * Jepsen analysis of December 2025 tested, with the fixes for the
 * whole-stream loss after process crashes of 2.10.20-2.10.22.
 */
export const RECOMMENDED_NATS_SERVER = "2.12.0";

/** A release as [major, minor, patch]; undefined when the text is not one ("2.9.10", "v2.12.1-RC.2"). */
export function parseVersion(text: string | undefined): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text?.trim() ?? "");
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `version` is a release at or after `minimum` (a version that does not parse is not). */
export function atLeast(version: string | undefined, minimum: string): boolean {
  const v = parseVersion(version);
  const min = parseVersion(minimum)!;
  if (v === undefined) return false;
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
}

/**
 * What to tell an operator about the nats-server a front end connected to:
 * undefined when it is at or after the recommended release, else why its
 * acknowledgements are weaker than the docs recommend.
 */
export function versionWarning(version: string | undefined): string | undefined {
  if (atLeast(version, RECOMMENDED_NATS_SERVER)) return undefined;
  const which = version === undefined ? "of an unknown version" : version;
  const fsync = atLeast(version, "2.10.0")
    ? "set jetstream { sync_interval: always } on every server to fsync before each ack"
    : "it has no setting to fsync before an ack (it syncs in the background), so an acked record can be lost to a power cut or an OS crash of its servers";
  return `nats-server ${which} is older than ${RECOMMENDED_NATS_SERVER}, which docs/jetstream.md recommends with jetstream { sync_interval: always }: ${fsync}`;
}
