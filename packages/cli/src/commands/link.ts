import type { CommandModule } from 'yargs';
import type { LinkBody, SignedFile } from '@custody/core';

interface LinkShowArgs { file: string; key?: string; json: boolean }

const LINK_PREDICATE_V03 = 'https://in-toto.io/attestation/link/v0.3';

/** Makes control characters visible so a link's stdout cannot drive the terminal. */
function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function descriptorsToMap(list: unknown): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  if (!Array.isArray(list)) return out;
  for (const d of list as { name?: string; uri?: string; digest?: Record<string, string> }[]) {
    const name = d?.name ?? d?.uri;
    // a file named __proto__ is an artifact too: an own property, never the prototype
    if (typeof name === 'string') Object.defineProperty(out, name, { value: { ...(d.digest ?? {}) }, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The link a signed file carries: a legacy link body, or a Statement with the link predicate v0.3. */
async function linkOf(file: SignedFile<unknown>, fileName: string): Promise<LinkBody> {
  const { CustodyError, normalizeLink } = await import('@custody/core');
  const body = file.body as Record<string, unknown> | null;
  if (body && typeof body === 'object' && body._type === 'link') return normalizeLink(body, fileName);
  if (body && typeof body === 'object' && typeof body._type === 'string' && body._type.startsWith('https://in-toto.io/Statement/')
    && body.predicateType === LINK_PREDICATE_V03 && body.predicate && typeof body.predicate === 'object') {
    const p = body.predicate as Record<string, unknown>;
    return normalizeLink({
      _type: 'link', name: p.name, command: p.command ?? [], materials: descriptorsToMap(p.materials),
      products: descriptorsToMap(body.subject), byproducts: p.byproducts ?? {}, environment: p.environment ?? {},
    }, fileName);
  }
  const what = body && typeof body === 'object' ? JSON.stringify(body._type ?? null) : typeof body;
  throw new CustodyError('SCHEMA_INVALID', `not a link (_type ${what})`, { file: fileName });
}

function renderArtifacts(title: string, map: Record<string, Record<string, string>>, out: string[]): void {
  const paths = Object.keys(map).sort();
  out.push(`${title} (${paths.length}):`);
  for (const p of paths) {
    const digests = Object.entries(map[p]).map(([alg, d]) => `${alg}:${d}`).join(' ');
    out.push(`  ${printable(p)}  ${digests}`);
  }
}

function renderValue(name: string, value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    if (value === '') { out.push(`  ${name}: ""`); return; }
    out.push(`  ${name}:`);
    for (const line of value.replace(/\n$/, '').split('\n')) out.push(`    | ${printable(line)}`);
    return;
  }
  out.push(`  ${name}: ${printable(JSON.stringify(value))}`);
}

export const linkShowCommand: CommandModule<object, LinkShowArgs> = {
  command: 'show <file>',
  describe: 'print a link (metablock or DSSE) and, with --key, check its signature (exit 0 valid, 1 invalid)',
  builder: (y) => y
    .positional('file', { type: 'string', demandOption: true, describe: 'link file (<step>.<keyid8>.link or DSSE envelope)' })
    .option('key', { type: 'string', describe: 'public key file to check the signature with' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON instead of text' }) as any,
  handler: async (argv) => {
    const core = await import('@custody/core');
    const [{ readTextFile }, { loadPublicKey }] = await Promise.all([import('@custody/sign/files'), import('@custody/sign/keys')]);
    const text = await readTextFile(argv.file);
    const signed = core.parseSignedFile(text, argv.file);
    core.requireInTotoPayloadType(signed, argv.file);
    const link = await linkOf(signed, argv.file);
    const signatures = signed.format === 'metablock' ? signed.metablock.signatures : signed.envelope.signatures;
    let check: { keyid: string; valid: boolean } | undefined;
    if (argv.key) {
      const key = await loadPublicKey(argv.key);
      const valid = signed.format === 'metablock'
        ? core.verifySignedFile(signed, key, (b) => core.normalizeLink(b, argv.file))
        : core.verifySignedFile(signed, key);
      check = { keyid: key.keyid, valid };
    }
    if (argv.json) {
      const doc = {
        file: argv.file,
        format: signed.format,
        ...(signed.format === 'dsse' ? { payloadType: signed.envelope.payloadType } : {}),
        link,
        signatures: signatures.map((s) => ({ keyid: s.keyid })),
        ...(check ? { signature: check } : {}),
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      const out: string[] = [];
      out.push(`link:     ${printable(link.name)}`);
      out.push(`format:   ${signed.format === 'dsse' ? `DSSE (${printable(signed.envelope.payloadType)})` : 'in-toto metablock'}`);
      out.push(`command:  ${link.command.length ? printable(link.command.map((a) => (/^[\w@%+=:,./-]+$/.test(String(a)) ? String(a) : JSON.stringify(a))).join(' ')) : '(none)'}`);
      renderArtifacts('materials', link.materials, out);
      renderArtifacts('products', link.products, out);
      const byproducts = Object.keys(link.byproducts).sort();
      out.push(`byproducts (${byproducts.length}):`);
      for (const k of byproducts) renderValue(k, link.byproducts[k], out);
      const env = Object.keys(link.environment).sort();
      if (env.length) {
        out.push(`environment (${env.length}):`);
        for (const k of env) renderValue(k, link.environment[k], out);
      }
      out.push(`signatures (${signatures.length}):`);
      for (const s of signatures) out.push(`  keyid ${printable(s.keyid)}`);
      if (check) out.push(`signature check: ${check.valid ? 'valid' : 'INVALID'} for key ${check.keyid}`);
      process.stdout.write(`${out.join('\n')}\n`);
    }
    if (check && !check.valid) {
      const has = signatures.some((s) => s.keyid === check!.keyid);
      throw new core.CustodyError('SIGNATURE_INVALID',
        has ? `signature by key ${check.keyid} does not verify` : `not signed by key ${check.keyid}`, { file: argv.file });
    }
  },
};

export const linkCommand: CommandModule = {
  command: 'link <command>',
  describe: 'inspect link metadata',
  builder: (y) => y.command(linkShowCommand).demandCommand(1, 'name a link command: show'),
  handler: () => undefined,
};
