import type { CommandModule } from 'yargs';

/**
 * `custody trace learn`: the profile of a good traced run (executables, files read and written
 * outside the step's folder, network peers), for review and commit beside the layout; a step
 * names it with `traceProfile: FILE` and the `traceDrift(predicate, profile)` rule reports
 * what a later run does beyond it.
 */

interface LearnArgs {
  attestation: string;
  key: string;
  output: string;
}

const RUNTIME_TRACE = 'https://in-toto.io/attestation/runtime-trace/v0.1';

/** The verified runtime-trace Statement of a Sigstore bundle or a bare DSSE envelope. */
async function verifiedTrace(file: string, keyFile: string): Promise<{ step?: string; predicate: unknown }> {
  const core = await import('@custody/core');
  const sign = await import('@custody/sign');
  const { readFile } = await import('node:fs/promises');
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (e) {
    throw new core.CustodyError((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `cannot read the trace attestation: ${(e as Error).message}`, { file, cause: e });
  }
  const key = await sign.loadPublicKey(keyFile);
  let statement: { predicateType?: string; predicate?: unknown; subject?: { name?: string }[] } | undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new core.CustodyError('MALFORMED_JSON', `not JSON: ${(e as Error).message}`, { file, cause: e });
  }
  if (core.isPlainObject(doc) && 'payload' in doc && !('mediaType' in doc)) {
    const signed = core.parseSignedFile(text.toString('utf8'), file);
    if (!core.verifySignedFile(signed, key)) throw new core.CustodyError('SIGNATURE_INVALID', `DSSE envelope is not signed by ${key.keyid.slice(0, 8)}`, { file });
    statement = signed.body as typeof statement;
  } else {
    statement = sign.verifySigstoreBundle(text, { key, file }).statement as typeof statement;
  }
  if (!statement || statement.predicateType !== RUNTIME_TRACE) {
    throw new core.CustodyError('USAGE', `not a runtime-trace attestation (predicateType ${JSON.stringify(statement?.predicateType ?? null)})`, { file });
  }
  const linkName = statement.subject?.[0]?.name;
  return { ...(linkName?.endsWith('.link') ? { step: linkName.slice(0, -'.link'.length) } : {}), predicate: statement.predicate };
}

const learnCommand: CommandModule<object, LearnArgs> = {
  command: 'learn <attestation>',
  describe: 'write the reviewable profile of a good traced run (executables, paths outside the step folder, network peers) for traceProfile in a layout',
  builder: (y) => y
    .positional('attestation', { type: 'string', demandOption: true, describe: 'the run\'s trace attestation (<step>.<keyid8>.trace.sigstore.json or .att.json)' })
    .option('key', { type: 'string', demandOption: true, describe: 'public key of the functionary who signed it' })
    .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'profile to write (YAML), e.g. train.trace-profile.yaml next to the layout' }) as any,
  handler: async (argv) => {
    const core = await import('@custody/core');
    const { writeFileAtomic } = await import('@custody/store/atomic');
    const { basename } = await import('node:path');
    const trace = await verifiedTrace(argv.attestation, argv.key);
    const step = trace.step ?? 'step';
    const profile = core.learnTraceProfile(trace.predicate, step);
    const text = core.renderTraceProfile(profile, [
      `custody trace profile of step ${step}, learned from ${basename(argv.attestation)}.`,
      'Review every entry: this is what later runs of the step may do without being reported.',
      'Entries ending in / are folder prefixes; * matches within a path segment, ** across them.',
      `Name it in the layout step: traceProfile: ./${basename(argv.output)}, and add the rule`,
      '  traceDrift(predicate, profile) == []',
    ]);
    await writeFileAtomic(argv.output, text);
    const n = profile.executables.length;
    process.stdout.write(`${argv.output}: ${n} executable${n === 1 ? '' : 's'}, ${profile.readOutside.length} read and ${profile.writtenOutside.length} written outside the step folder, ${profile.network.length} network peer(s)\n`);
  },
};

export const traceCommand: CommandModule<object, object> = {
  command: 'trace <command>',
  describe: 'runtime traces (the trace plugin): learn an approved profile from a good run',
  builder: (y) => y.command(learnCommand).demandCommand(1, 'name a trace command: learn') as any,
  handler: () => {},
};
