// Git LFS pointer files (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md):
// small UTF-8 text, "key value" lines, first line "version https://git-lfs.github.com/spec/v1",
// then keys in sorted order, including "oid sha256:<64 hex>" and "size <bytes>".
import { CustodyError } from '@custody/core';

export const LFS_VERSION_V1 = 'https://git-lfs.github.com/spec/v1';
/** Pointer files are always smaller than this (the spec's limit). */
export const LFS_POINTER_MAX_BYTES = 1024;

export interface LfsPointer {
  oid: string; // hex sha256
  size: number;
  /** Any further keys (e.g. "ext-0-foo"), kept verbatim. */
  extra: Record<string, string>;
}

/** True when the bytes start like an LFS pointer; such a file must then parse. */
export function looksLikeLfsPointer(bytes: Uint8Array): boolean {
  if (bytes.length >= LFS_POINTER_MAX_BYTES) return false;
  const head = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  return head.startsWith('version https://git-lfs.github.com/spec/') || head.startsWith('version https://hawser.github.com/spec/v1');
}

export function parseLfsPointer(bytes: Uint8Array, file: string): LfsPointer {
  const bad = (problem: string) => new CustodyError('LFS_POINTER_INVALID', `invalid Git LFS pointer: ${problem}`, { file });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('not UTF-8 text');
  }
  if (!text.endsWith('\n')) throw bad('last line is not terminated by a newline');
  const lines = text.slice(0, -1).split('\n');
  const entries: [string, string][] = [];
  for (const [i, line] of lines.entries()) {
    const m = /^([a-z0-9.-]+) (.*)$/.exec(line);
    if (!m) throw bad(`line ${i + 1} is not "key value": ${JSON.stringify(line)}`);
    entries.push([m[1]!, m[2]!]);
  }
  if (entries[0]?.[0] !== 'version') throw bad('first line is not "version"');
  const version = entries[0][1];
  if (version !== LFS_VERSION_V1 && version !== 'https://hawser.github.com/spec/v1') throw bad(`unsupported version ${version}`);
  const rest = entries.slice(1);
  for (let i = 1; i < rest.length; i++) {
    if (rest[i - 1]![0] >= rest[i]![0]) throw bad(`keys are not in sorted order ("${rest[i - 1]![0]}" before "${rest[i]![0]}")`);
  }
  const map = new Map(rest);
  const oidRaw = map.get('oid');
  if (oidRaw === undefined) throw bad('no "oid" line');
  const oidMatch = /^sha256:([0-9a-f]{64})$/.exec(oidRaw);
  if (!oidMatch) throw bad(`oid ${JSON.stringify(oidRaw)} is not "sha256:" followed by 64 lowercase hex digits`);
  const sizeRaw = map.get('size');
  if (sizeRaw === undefined) throw bad('no "size" line');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeRaw) || !Number.isSafeInteger(Number(sizeRaw))) throw bad(`size ${JSON.stringify(sizeRaw)} is not a byte count`);
  const extra: Record<string, string> = {};
  for (const [k, v] of rest) if (k !== 'oid' && k !== 'size') extra[k] = v;
  return { oid: oidMatch[1]!, size: Number(sizeRaw), extra };
}

export function formatLfsPointer(oid: string, size: number): string {
  return `version ${LFS_VERSION_V1}\noid sha256:${oid}\nsize ${size}\n`;
}

/** Where `git lfs` keeps a downloaded object inside a repository. */
export function lfsObjectPath(oid: string): string {
  return `.git/lfs/objects/${oid.slice(0, 2)}/${oid.slice(2, 4)}/${oid}`;
}
