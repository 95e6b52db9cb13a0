import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import * as fsp from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** fsyncs a folder, so that a name created or renamed in it survives a crash. */
export async function syncDir(path: string): Promise<void> {
  const fh = await fsp.open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old file or
 * the new one, never a mix: write a temporary file beside it (created
 * exclusively, never through a symlink), fsync it, rename it over `path`,
 * fsync the folder. The file gets `mode` (default 0600) whatever the umask.
 */
export async function writeFileAtomically(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomUUID()}.tmp`);
  const fh = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(temp, path);
  } catch (err) {
    await fsp.unlink(temp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

/** Creates a folder (and missing parents) with mode 0700; returns true when this call created `path` itself. */
export async function ensurePrivateDir(path: string): Promise<boolean> {
  const created = await fsp.mkdir(path, { recursive: true, mode: 0o700 });
  if (created === undefined) return false;
  // mkdir's mode passes through the umask; make sure of 0700 on what we made.
  await fsp.chmod(path, 0o700);
  await syncDir(dirname(path)).catch(() => undefined);
  return true;
}
