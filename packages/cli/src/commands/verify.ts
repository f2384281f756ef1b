import type { CommandModule } from 'yargs';
import { setExitCode } from '../output.ts';

/** Error messages that quote file content (e.g. JSON.parse's) may hold newlines; the CLI prints one line. */
async function oneLineErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const { CustodyError, isCustodyError } = await import('@custody/core');
    if (isCustodyError(e) && /[\r\n]/.test(e.message)) {
      throw new CustodyError(e.code, e.message.replace(/\s*[\r\n]+\s*/g, ' '), { file: e.file, cause: e });
    }
    throw e;
  }
}

interface VerifyArgs {
  layout: string;
  'layout-key': string[];
  'link-dir': string;
  param?: string[];
  json: boolean;
  'inspection-timeout': number;
}

/**
 * Reads a file named on the command line. (Not @custody/sign's readTextFile: loading the sign
 * package pulls in sigstore, which costs more than verifying a 10,000-artifact chain.)
 */
async function readText(path: string, maxBytes?: number): Promise<string> {
  const { readFile, stat } = await import('node:fs/promises');
  const { CustodyError } = await import('@custody/core');
  try {
    if (maxBytes !== undefined && (await stat(path)).size > maxBytes) throw new CustodyError('KEY_INVALID', 'not a key: file too large', { file: path });
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CustodyError('FILE_NOT_FOUND', 'no such file', { file: path, cause: e });
    throw new CustodyError('FILE_UNREADABLE', code === 'EISDIR' ? 'is a directory, not a file' : `cannot read: ${code ?? (e as Error).message}`, { file: path, cause: e });
  }
}

/** `k=v` pairs → params; a pair without `=` is bad input. */
async function parseParams(pairs: string[] | undefined): Promise<Record<string, string> | undefined> {
  if (!pairs || pairs.length === 0) return undefined;
  const { CustodyError } = await import('@custody/core');
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CustodyError('USAGE', `--param ${JSON.stringify(p)}: expected NAME=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify',
  describe: 'verify a supply chain against a signed in-toto layout (exit 0 pass, 1 fail, 2 bad input)',
  builder: (y) => y
    .option('layout', { type: 'string', demandOption: true, describe: 'signed root layout (metablock or DSSE)' })
    .option('layout-key', { type: 'array', string: true, demandOption: true, describe: 'public key of the layout owner; every key given must have signed the layout' })
    .option('link-dir', { type: 'string', default: '.', describe: 'folder with <step>.<keyid8>.link files (sublayout links in <step>.<keyid8>/)' })
    .option('param', { type: 'array', string: true, describe: 'NAME=VALUE substituted for {NAME} in rules, expected commands and inspection runs' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (schemas/verify-report.schema.json)' })
    .option('inspection-timeout', { type: 'number', default: 300, describe: 'seconds an inspection may run' }) as any,
  handler: (argv) => oneLineErrors(async () => {
    const core = await import('@custody/core');
    const { directoryLinkSource, createInspectionRunner } = await import('@custody/engine');
    // (yargs' demandOption does not stop the handler under this CLI's fail() hook; check here.)
    if (!argv.layout) throw new core.CustodyError('USAGE', 'missing --layout FILE');
    if (!argv['layout-key']?.length) throw new core.CustodyError('USAGE', 'missing --layout-key KEY (every key given must have signed the layout)');
    const params = await parseParams(argv.param);
    if (!(argv['inspection-timeout'] > 0)) throw new core.CustodyError('USAGE', '--inspection-timeout must be a positive number of seconds');
    const layout = core.parseSignedFile(await readText(argv.layout), argv.layout);
    const layoutKeys = [];
    for (const k of argv['layout-key']) layoutKeys.push(core.parsePublicKeyText(await readText(String(k), 1 << 20), String(k)));
    const links = await directoryLinkSource(argv['link-dir']);
    const runner = createInspectionRunner({ workdir: process.cwd(), timeoutMs: argv['inspection-timeout'] * 1000 });
    let report;
    try {
      report = await core.verifySupplyChain({ layout, layoutKeys, now: new Date(), params, links, runInspection: runner.run, layoutFile: argv.layout });
    } catch (e) {
      // Link files are named relative to the link dir in core; name them as the user would.
      if (core.isCustodyError(e) && e.file && /\.link$/.test(e.file) && argv['link-dir'] !== '.') {
        const { join } = await import('node:path');
        throw new core.CustodyError(e.code, e.message, { file: join(argv['link-dir'], e.file), cause: e });
      }
      throw e;
    } finally {
      await runner.dispose();
    }
    if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(core.renderVerificationTree(report, `custody verify ${argv.layout}`));
    if (report.verdict !== 'pass') setExitCode(1);
  }),
};
