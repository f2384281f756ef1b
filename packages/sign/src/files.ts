import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CustodyError } from '@custody/core';

/**
 * Reads a text file, mapping fs errors to FILE_NOT_FOUND / FILE_UNREADABLE naming the file.
 * With `maxBytes`, a larger file is refused as `tooLarge` says (keys are small; a model file
 * passed by mistake should not be read into memory).
 */
export async function readTextFile(path: string, limit?: { maxBytes: number; tooLarge: CustodyError }): Promise<string> {
  try {
    if (limit && (await stat(path)).size > limit.maxBytes) throw limit.tooLarge;
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'no such file', { file: path, cause: e });
    if (code === 'EISDIR') throw new CustodyError('FILE_UNREADABLE', 'is a directory, not a file', { file: path, cause: e });
    throw new CustodyError('FILE_UNREADABLE', `cannot read: ${code ?? (e as Error).message}`, { file: path, cause: e });
  }
}

/**
 * Writes data to a temp file next to `path` (created with `mode`), flushes it, then renames it
 * over `path` — readers never see a partial file and a failure leaves nothing behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await open(tmp, 'wx', mode);
    created = true;
    try {
      await fh.writeFile(data);
      // open() applies the umask; make the mode exact (0600 for private keys).
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    if (created) await unlink(tmp).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'directory does not exist'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory'
      : code ?? (e as Error).message;
    throw new CustodyError('FILE_UNWRITABLE', `cannot write: ${why}`, { file: path, cause: e });
  }
}
