/**
 * Observed steps, as in-toto-record: `start` hashes the materials and saves a signed
 * preliminary link `.<step>.<keyid[:8]>.link-unfinished` (the reference's own format, so
 * either tool can finish what the other started); `stop` checks that file's signature with
 * the same key, then runs the lifecycle with those materials and no command, and removes it.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CustodyError, normalizeLink, parseSignedFile, verifySignedFile } from '@custody/core';
import type { LinkBody } from '@custody/core';
import { serializeMetablock, signMetablock, type Signer } from '@custody/sign';
import { unfinishedLinkFileName } from '@custody/store/names';
import { writeFileAtomic } from '@custody/store/atomic';
import { recordArtifacts } from './hashing/artifacts.ts';
import { runStep, type StepOptions, type StepResult } from './lifecycle.ts';
import { stepExcludes } from './builtin/excludes.ts';
import type { ProgressSink } from './hashing/progress.ts';

export { unfinishedLinkFileName };

export interface RecordStartOptions {
  stepName: string;
  signer: Signer;
  workdir?: string;
  materials?: string[];
  exclude?: string[];
  basePath?: string;
  lstripPaths?: string[];
  progress?: (label: string) => ProgressSink | undefined;
}

/** Returns the path of the preliminary link written in the working folder. */
export async function recordStart(o: RecordStartOptions): Promise<string> {
  const workdir = o.workdir ?? process.cwd();
  const materials = await recordArtifacts(o.materials ?? [], {
    basePath: resolve(workdir, o.basePath ?? '.'),
    exclude: stepExcludes(o.exclude),
    lstripPaths: o.lstripPaths,
    progress: o.progress?.('hashing materials'),
  });
  const link: LinkBody = { _type: 'link', name: o.stepName, command: [], materials, products: {}, byproducts: {}, environment: {} };
  const path = join(workdir, unfinishedLinkFileName(o.stepName, o.signer.keyid));
  await writeFileAtomic(path, serializeMetablock(await signMetablock(link, o.signer)));
  return path;
}

export type RecordStopOptions = Omit<StepOptions, 'command' | 'noCommand' | 'observedMaterials' | 'materials' | 'signer'> & { signer: Signer };

export async function recordStop(o: RecordStopOptions): Promise<StepResult> {
  const workdir = o.workdir ?? process.cwd();
  const name = unfinishedLinkFileName(o.stepName, o.signer.keyid);
  const path = join(workdir, name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CustodyError('RECORD_NOT_STARTED', `no preliminary link for step '${o.stepName}' and this key (run \`custody record start\` first)`, { file: name });
  }
  const file = parseSignedFile(text, name);
  if (file.format !== 'metablock' || !verifySignedFile(file, o.signer.publicKey, (b) => normalizeLink(b, name))) {
    throw new CustodyError('SIGNATURE_INVALID', 'preliminary link is not signed by this key', { file: name });
  }
  const preliminary = normalizeLink(file.body, name);
  const result = await runStep({ ...o, workdir, command: [], noCommand: true, observedMaterials: preliminary.materials });
  unlinkSync(path);
  return result;
}
