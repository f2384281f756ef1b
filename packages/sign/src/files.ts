import { readFile, stat } from 'node:fs/promises';
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
