import { constants } from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { status } from "@grpc/grpc-js";
import { errnoOf, ServiceError } from "../errors.js";
import { ensurePrivateDir, writeFileAtomically } from "./atomic-file.js";

/** Options of a {@link TrustDirectory}. */
export interface TrustDirectoryOptions {
  /** The folder client-named files are confined to; created with mode 0700 when missing. */
  root: string;
  /** Largest file read, in bytes. Default 64 MiB. */
  fileBytesMax?: number;
}

/** Longest client-named path, in characters. */
export const PATH_CHARS_MAX = 1024;
/** Longest name of one folder or file, in UTF-8 bytes (the usual file system limit). */
const NAME_BYTES_MAX = 255;
// C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
const CONTROL = /[\u0001-\u001f\u007f-\u009f\u2028\u2029]/;

/** A client-named file resolved inside the trust directory. */
export interface ConfinedPath {
  /** The path relative to the trust directory, normalized (`a/b.json`). */
  relative: string;
  /** Where the file is, every symlink before the last name resolved. */
  absolute: string;
}

const isInside = (root: string, path: string) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);


/**
 * The folder that client-named trust files live in. Every path a client names
 * is checked here before anything is read or written:
 * - it must be relative, without `..`, NUL bytes, control characters or
 *   backslashes, and name a file (INVALID_ARGUMENT naming the field);
 * - no folder on the way and no final symlink may lead outside the
 *   directory (PERMISSION_DENIED naming the field); symlinks that stay
 *   inside are followed;
 * - writes are atomic (temporary file, fsync, rename, fsync of the folder)
 *   with mode 0600; missing folders inside are created with mode 0700.
 */
export class TrustDirectory {
  readonly root: string;
  private readonly fileBytesMax: number;

  constructor(options: TrustDirectoryOptions) {
    this.root = resolve(options.root);
    this.fileBytesMax = options.fileBytesMax ?? 64 * 1024 * 1024;
  }

  /** Creates the directory with mode 0700 when it is missing. */
  async ensure(): Promise<void> {
    await ensurePrivateDir(this.root);
  }

  /** Checks the shape of a client-named path; returns its normalized parts. Throws INVALID_ARGUMENT naming `field`. */
  static parts(path: string, field: string): string[] {
    if (typeof path !== "string" || path.length === 0) throw ServiceError.invalid(field, "must name a file inside the trust directory");
    if (path.length > PATH_CHARS_MAX) throw ServiceError.invalid(field, `longer than ${PATH_CHARS_MAX} characters`);
    if (path.includes("\u0000")) throw ServiceError.invalid(field, "must not contain NUL bytes");
    if (CONTROL.test(path)) throw ServiceError.invalid(field, "must not contain control characters or line breaks");
    if (path.includes("\\")) throw ServiceError.invalid(field, "must use / to separate folders, not \\");
    if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) throw ServiceError.invalid(field, "must be relative to the trust directory, not absolute");
    if (path.endsWith("/")) throw ServiceError.invalid(field, "must name a file, not a folder");
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) throw ServiceError.invalid(field, 'must not contain ".." (paths stay inside the trust directory)');
    if (parts.length === 0) throw ServiceError.invalid(field, "must name a file inside the trust directory");
    for (const p of parts) {
      if (Buffer.byteLength(p, "utf8") > NAME_BYTES_MAX) throw ServiceError.invalid(field, `the name "${p.slice(0, 32)}..." is longer than ${NAME_BYTES_MAX} bytes`);
    }
    return parts;
  }

  /**
   * Resolves a client-named path inside the directory, following symlinks
   * only while they stay inside. The last name is resolved too when it is a
   * symlink; a missing file or folder is fine (reads report it, writes create it).
   */
  async resolve(path: string, field: string): Promise<ConfinedPath> {
    const parts = TrustDirectory.parts(path, field);
    await this.ensure();
    const root = await fsp.realpath(this.root);
    const outside = () => ServiceError.forField(status.PERMISSION_DENIED, field, `"${path}" leads outside the trust directory through a symbolic link`);
    let current = root;
    for (let i = 0; i < parts.length; i++) {
      const next = join(current, parts[i]);
      const last = i === parts.length - 1;
      let stat;
      try {
        stat = await fsp.lstat(next);
      } catch (err) {
        if (errnoOf(err) !== "ENOENT") throw err;
        // Nothing exists from here on: the rest is plain names inside.
        return { relative: parts.join("/"), absolute: join(next, ...parts.slice(i + 1)) };
      }
      if (stat.isSymbolicLink()) {
        let target: string;
        try {
          target = await fsp.realpath(next);
        } catch (err) {
          if (errnoOf(err) !== "ENOENT" && errnoOf(err) !== "ELOOP") throw err;
          // A dangling link: judge it by where it points.
          target = resolve(dirname(next), await fsp.readlink(next));
          if (!isInside(root, target)) throw outside();
          if (!last) throw ServiceError.forField(status.FAILED_PRECONDITION, field, `the folder "${parts.slice(0, i + 1).join("/")}" is a broken symbolic link`);
          return { relative: parts.join("/"), absolute: next };
        }
        if (!isInside(root, target)) throw outside();
        current = target;
      } else {
        current = next;
      }
      if (!last) {
        const s = await fsp.stat(current);
        if (!s.isDirectory()) throw ServiceError.forField(status.FAILED_PRECONDITION, field, `"${parts.slice(0, i + 1).join("/")}" is not a folder`);
      }
    }
    if (relative(root, current) === "") throw ServiceError.invalid(field, "must name a file inside the trust directory");
    return { relative: parts.join("/"), absolute: current };
  }

  /** Writes a file atomically with mode 0600, creating missing folders inside (0700). Returns the relative path. */
  async write(path: string, field: string, data: string): Promise<string> {
    const target = await this.resolve(path, field);
    const existing = await fsp.lstat(target.absolute).catch((err) => {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw err;
    });
    if (existing?.isDirectory()) throw ServiceError.forField(status.FAILED_PRECONDITION, field, `"${target.relative}" is a folder`);
    const dir = dirname(target.absolute);
    const root = await fsp.realpath(this.root);
    if (!isInside(root, dir)) throw ServiceError.forField(status.PERMISSION_DENIED, field, `"${path}" leads outside the trust directory`);
    await ensurePrivateDir(dir);
    await writeFileAtomically(target.absolute, data, 0o600);
    return target.relative;
  }

  /**
   * Reads a file, or undefined when it does not exist. The last name is
   * opened without following symlinks (it was resolved, and checked, above),
   * and without blocking (a FIFO must not hang the call).
   */
  async read(path: string, field: string): Promise<{ relative: string; data: Buffer } | undefined> {
    const target = await this.resolve(path, field);
    let fh;
    try {
      fh = await fsp.open(target.absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ENOENT") return undefined;
      if (code === "ELOOP") throw ServiceError.forField(status.PERMISSION_DENIED, field, `"${path}" changed into a symbolic link while being opened`);
      throw err;
    }
    try {
      const stat = await fh.stat();
      if (stat.isDirectory()) throw ServiceError.forField(status.FAILED_PRECONDITION, field, `"${target.relative}" is a folder`);
      if (!stat.isFile()) throw ServiceError.forField(status.FAILED_PRECONDITION, field, `"${target.relative}" is not a regular file`);
      if (stat.size > this.fileBytesMax) {
        throw ServiceError.forField(status.FAILED_PRECONDITION, field, `"${target.relative}" has ${stat.size} bytes, over the limit of ${this.fileBytesMax}`);
      }
      return { relative: target.relative, data: await fh.readFile() };
    } finally {
      await fh.close();
    }
  }
}
