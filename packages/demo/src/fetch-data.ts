// The fetch-data step: copies the German Credit ARFF (and its attribution) into the step's
// folder, checking the pinned sha256 so a changed source is refused at the door.
import { access, copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustodyError } from '@custody/core';
import { sha256Hex } from './files.ts';

export const GERMAN_CREDIT_FILE = 'credit-g.arff';
export const GERMAN_CREDIT_SHA256 = 'bd94085134e4eb845c96b34c93ed65a223f89d089bacb273ef96f57509ce0bed';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

/** Where the dataset is: this package's copy, the one copy in the repository (tests read it too). */
export const GERMAN_CREDIT_SOURCES = [join(packageRoot, 'data/german-credit')];

export async function findGermanCredit(): Promise<string> {
  for (const dir of GERMAN_CREDIT_SOURCES) {
    if (await access(join(dir, GERMAN_CREDIT_FILE)).then(() => true, () => false)) return dir;
  }
  throw new CustodyError('FILE_NOT_FOUND', `German Credit not found in ${GERMAN_CREDIT_SOURCES.join(' or ')}`);
}

export interface FetchDataOptions {
  out: string;
  /** Folder holding credit-g.arff (+ SOURCE.md); default: findGermanCredit(). */
  source?: string;
  /** Expected sha256 of the ARFF; null accepts any content. */
  expectedSha256?: string | null;
}

export async function fetchData(o: FetchDataOptions): Promise<{ files: string[]; sha256: string; source: string }> {
  const source = o.source ?? (await findGermanCredit());
  const arffPath = join(source, GERMAN_CREDIT_FILE);
  const bytes = await readFile(arffPath).catch(() => {
    throw new CustodyError('FILE_NOT_FOUND', 'dataset missing', { file: arffPath });
  });
  const sha256 = sha256Hex(bytes);
  const expected = o.expectedSha256 === undefined ? GERMAN_CREDIT_SHA256 : o.expectedSha256;
  if (expected !== null && sha256 !== expected) {
    throw new CustodyError('DIGEST_MISMATCH', `sha256 ${sha256} is not the pinned ${expected}`, { file: arffPath });
  }
  await mkdir(o.out, { recursive: true });
  await copyFile(arffPath, join(o.out, GERMAN_CREDIT_FILE));
  const files = [GERMAN_CREDIT_FILE];
  const attribution = join(source, 'SOURCE.md');
  if (await access(attribution).then(() => true, () => false)) {
    await copyFile(attribution, join(o.out, 'SOURCE.md'));
    files.push('SOURCE.md');
  }
  return { files, sha256, source };
}
