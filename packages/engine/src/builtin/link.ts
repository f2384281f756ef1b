import { dirname, join, resolve } from 'node:path';
import { accessSync, constants, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { CustodyError, IN_TOTO_PAYLOAD_TYPE, bindSubjects, isCustodyError, jcs, linkDigest, normalizeLink } from '@custody/core';
import { serializeDsse, serializeMetablock, signDsse, signMetablock } from '@custody/sign';
import { linkFileName } from '@custody/store/names';
import { AttestationSink, sweepStaleTempFiles } from '@custody/store/atomic';
import type { StepHooks } from '../types.ts';
import { buildLink, type StepState } from '../lifecycle.ts';
import { makeStatement, productsAsSubject } from '../attestation.ts';

/**
 * Built-in, last in `sign` and `store`: signs the link (legacy metablock or DSSE) and one
 * Statement per emitted predicate, then writes them all through the store's sink: names from
 * @custody/store/names, each file atomic, and if one write fails (or a signal stops the
 * process) the ones already written for this step are removed again.
 */
/** Run-level evidence names the run by the digest of its link (core's linkDigest, as statement.ts's linkSubject). */
function linkAsSubject(link: import('@custody/core').LinkBody): import('../types.ts').ResourceDescriptor {
  return { name: `${link.name}.link`, digest: { sha256: linkDigest(link) } };
}

export function linkPlugin(hooks: StepHooks, state: StepState): void {
  hooks.sign.tapPromise({ name: 'custody:sign', stage: 100 }, async (ctx) => {
    const signer = state.options.signer;
    const writer = state.attestationWriter;
    // keyless writers sign by themselves; otherwise nothing is signed without a key
    if (!signer && !(writer.selfSigning && writer.writeLink)) return;
    const link = buildLink(state);
    if (writer.writeLink) {
      // e.g. Sigstore bundles: the link is one more Statement (link predicate v0.3)
      const written = await writer.writeLink(link, signer);
      state.pending.push({ name: written.fileName, data: written.data });
    } else if (signer) {
      const linkText =
        state.options.format === 'dsse'
          ? serializeDsse(await signDsse(Buffer.from(jcs(link), 'utf8'), IN_TOTO_PAYLOAD_TYPE, signer))
          : serializeMetablock(await signMetablock(link, signer));
      state.pending.push({ name: linkFileName(ctx.stepName, signer.keyid), data: linkText });
    }
    const fileKeyid = writer.selfSigning ? writer.selfSigning.fileKeyid() : signer!.keyid;

    const perPlugin = new Map<string, number>();
    const defaultSubject = productsAsSubject(ctx.products);
    for (const { plugin, predicate } of state.predicates) {
      const index = perPlugin.get(plugin) ?? 0;
      perPlugin.set(plugin, index + 1);
      // Bound to this run in signed content: every subject names the step and this link's digest.
      // Run-level evidence (subjectIsLink: trace, ...), or a Statement about no artifact, names
      // the run by its link digest instead.
      const given = predicate.subject ?? defaultSubject;
      const subject = predicate.subjectIsLink || given.length === 0 ? [linkAsSubject(normalizeLink(link))] : bindSubjects(given, ctx.stepName, normalizeLink(link));
      const statement = makeStatement(subject, predicate.predicateType, predicate.predicate);
      state.pending.push({
        name: state.attestationWriter.fileName(ctx.stepName, fileKeyid, plugin, index),
        data: await state.attestationWriter.serialize(statement, signer),
      });
    }
  });

  hooks.store.tapPromise({ name: 'custody:store', stage: 100 }, async () => {
    if (state.pending.length === 0) return;
    const sink = new AttestationSink(resolve(state.workdir, state.options.outDir ?? '.'));
    // One run, one set: concurrent runs into one folder write their sets one after the other, so
    // the folder never holds one run's link beside another run's attestations.
    const release = await lockFolder(sink.dir);
    try {
      state.written = await sink.writeAll(state.pending);
    } catch (e) {
      state.written = [];
      if (isCustodyError(e)) throw e;
      const err = e as NodeJS.ErrnoException;
      throw new CustodyError('FILE_UNWRITABLE', `cannot write: ${err.code ?? err.message}`, { file: sink.dir, cause: e });
    } finally {
      release();
    }
  });
}

const LOCK_NAME = '.custody-write.lock';

/**
 * An exclusive lock on a folder's attestation set: a lock file (a dotfile, which readers skip)
 * holding the writer's pid, created exclusively; a lock whose process is gone (killed) is taken
 * over. Waits up to 60 s.
 */
async function lockFolder(dir: string): Promise<() => void> {
  const path = join(dir, LOCK_NAME);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new CustodyError('FILE_UNWRITABLE', `cannot lock the folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: dir, cause: e });
      }
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8'));
    } catch {
      continue; // released meanwhile
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
      try {
        unlinkSync(path);
      } catch {
        // another waiter took it over first
      }
      continue;
    }
    if (Date.now() > deadline) throw new CustodyError('FILE_UNWRITABLE', `another custody run (pid ${holder}) has held ${LOCK_NAME} for 60 s`, { file: dir });
    await new Promise((r) => setTimeout(r, 20));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir -p one level at a time (Node's recursive mkdir can spin forever under /proc). */
function makeDirs(dir: string): void {
  try {
    statSync(dir);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  mkdirSync(dir);
}

/** Creates the out dir if needed and checks it is a writable folder (FILE_UNWRITABLE otherwise). */
export function checkOutDir(workdir: string, outDir: string | undefined): string {
  const dir = resolve(workdir, outDir ?? '.');
  try {
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS' ? 'out dir is not writable' : err.code === 'ENOTDIR' || err.code === 'EEXIST' ? 'out dir is not a directory' : `cannot use out dir: ${err.code ?? err.message}`;
    throw new CustodyError('FILE_UNWRITABLE', why, { file: outDir ?? dir, cause: e });
  }
  // temp files a killed earlier run left here go before anything is recorded or written
  sweepStaleTempFiles(dir);
  return dir;
}
