// The plugin guide's example, copied from docs/plugins.md into a folder outside the
// repository and configured exactly as the guide says, must work with `custody run`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, loadPublicKey, verifyAttestationBundle } from '../../packages/sign/src/index.ts';
import { parseSignedFile, verifySignedFile } from '../../packages/core/src/index.ts';
import { custody, REPO_ROOT } from '../helpers/cli.ts';

/** Code blocks of the guide that carry a title="file" info string. */
function titledBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of markdown.matchAll(/```\w+ title="([^"]+)"\n([\s\S]*?)```/g)) blocks.set(m[1], m[2]);
  return blocks;
}

test('the example plugin from docs/plugins.md works from a folder outside the workspace', async () => {
  const blocks = titledBlocks(readFileSync(join(REPO_ROOT, 'docs/plugins.md'), 'utf8'));
  assert.ok(blocks.has('inventory-plugin.mjs') && blocks.has('custody.config.json'), 'guide lost its example blocks');
  const d = mkdtempSync(join(tmpdir(), 'custody-guide-'));
  assert.ok(!d.startsWith(REPO_ROOT));
  try {
    for (const [name, text] of blocks) writeFileSync(join(d, name), text);
    const pair = generateKeyPair('ed25519');
    writeFileSync(join(d, 'alice'), pair.privatePem, { mode: 0o600 }); // what `custody keygen alice` writes
    writeFileSync(join(d, 'alice.pub'), pair.publicPem);
    mkdirSync(join(d, 'attestations'));
    const r = await custody(['run', '--step', 'train', '--products', 'model', '--', 'sh', '-c', 'mkdir -p model && echo weights > model/w.bin && echo tiny > model/t.txt'], { cwd: d });
    assert.equal(r.code, 0, r.stderr);
    const kid = pair.keyid.slice(0, 8);
    const files = readdirSync(join(d, 'attestations')).sort();
    assert.deepEqual(files, [`train.${kid}.command-run.sigstore.json`, `train.${kid}.git.sigstore.json`, `train.${kid}.inventory.sigstore.json`, `train.${kid}.link`]);
    // the listing the guide shows is the one custody writes
    const listing = `# ${files.map((f) => f.replace(kid, '1a2b3c4d')).join('  ')}\n`;
    assert.ok(readFileSync(join(REPO_ROOT, 'docs/plugins.md'), 'utf8').includes(listing), `docs/plugins.md should show ${listing}`);
    const bundleText = readFileSync(join(d, 'attestations', `train.${kid}.inventory.sigstore.json`), 'utf8');
    const st = verifyAttestationBundle(bundleText, [await loadPublicKey(join(d, 'alice.pub'))]).statement as unknown as { _type: string; subject: { name: string }[]; predicateType: string; predicate: unknown };
    // the link is still the reference's metablock
    const link = parseSignedFile(readFileSync(join(d, 'attestations', `train.${kid}.link`), 'utf8'), 'link');
    assert.equal(link.format, 'metablock');
    assert.ok(verifySignedFile(link, await loadPublicKey(join(d, 'alice.pub'))));
    assert.equal(st._type, 'https://in-toto.io/Statement/v1');
    assert.equal(st.predicateType, 'https://example.com/attestation/inventory/v0.1');
    assert.deepEqual(st.subject.map((s) => s.name), ['model/t.txt', 'model/w.bin']);
    assert.deepEqual(st.predicate, { files: 2, bytes: 13, largest: [{ path: 'model/w.bin', bytes: 8 }, { path: 'model/t.txt', bytes: 5 }] });
    // custody evidence runs it alone with a flag for its option, signing nothing
    const ev = await custody(['evidence', './inventory-plugin.mjs', '--top', '1', '--json'], { cwd: join(d) });
    assert.equal(ev.code, 0, ev.stderr);
    const pred = JSON.parse(ev.stdout);
    assert.equal(pred.predicateType, 'https://example.com/attestation/inventory/v0.1');
    assert.equal(pred.predicate.largest.length, 1);
    // …also by its name, since the config names it
    const byName = await custody(['evidence', 'inventory', '--json'], { cwd: d });
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal(JSON.parse(byName.stdout).predicate.largest.length, 2); // options from the config: top 2
    const unknown = await custody(['evidence', './inventory-plugin.mjs', '--bottom', '1'], { cwd: d });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /plugin 'inventory' has no option --bottom \(options: --top\)/);
    // plugins list shows it with its phase and predicate type
    const list = await custody(['plugins', 'list', '--json'], { cwd: d });
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout).plugins as { name: string; enabled: boolean; phases: string[]; predicateTypes: string[] }[];
    const inv = rows.find((p) => p.name === 'inventory')!;
    assert.deepEqual([inv.enabled, inv.phases, inv.predicateTypes], [true, ['postProduct'], ['https://example.com/attestation/inventory/v0.1']]);
    assert.deepEqual(rows.filter((p) => p.enabled).map((p) => p.name), ['git', 'command-run', 'inventory']);
    assert.ok(rows.some((p) => p.name === 'environment' && !p.enabled));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
