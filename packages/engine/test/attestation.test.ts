// Key-signed bundles are built without sigstore-js (default runs stay fast): they must be the
// very bundles @sigstore/sign builds, and verify with @sigstore/verify plus custody's checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, loadSigner, serializeBundle, signAttestationBundle, verifyAttestationBundle } from '@custody/sign';
import type { Statement } from '@custody/core';
import { isCustodyError } from '@custody/core';
import { attestationWriterFor, DsseAttestationWriter, keyBundle, makeStatement, SigstoreAttestationWriter } from '../src/attestation.ts';

const statement = makeStatement([{ name: 'model/w.bin', digest: { sha256: 'ab'.repeat(32) } }], 'https://example.test/p/v1', { value: 'ü', n: 1 });

test('keyBundle equals the bundle @sigstore/sign builds (ed25519 signs deterministically); every key type verifies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-keybundle-'));
  try {
    for (const type of ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa'] as const) {
      writeFileSync(join(dir, type), generateKeyPair(type).privatePem, { mode: 0o600 });
      const signer = await loadSigner(join(dir, type));
      const mine = await keyBundle(statement, signer);
      if (type === 'ed25519') assert.equal(mine, serializeBundle(await signAttestationBundle(statement as unknown as Statement, signer)));
      const verified = verifyAttestationBundle(mine, [signer.publicKey]);
      assert.equal(verified.keyid, signer.keyid, type);
      assert.deepEqual(verified.statement, statement, type);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('attestationWriterFor: legacy keeps the link out of bundles; dsse writes .att.json; sigstore bundles the link; keyless needs sigstore', () => {
  const legacy = attestationWriterFor('legacy');
  assert.ok(legacy instanceof SigstoreAttestationWriter && legacy.writeLink === undefined);
  assert.equal(legacy.fileName('s', 'ab'.repeat(32), 'git', 1), 's.abababab.git-2.sigstore.json');
  assert.ok(attestationWriterFor('dsse') instanceof DsseAttestationWriter);
  assert.equal(typeof attestationWriterFor('sigstore').writeLink, 'function');
  const keyless = { signStatement: async () => ({}), identity: () => undefined };
  assert.throws(() => attestationWriterFor('legacy', keyless), (e: unknown) => isCustodyError(e) && e.code === 'USAGE' && /--format sigstore/.test(e.message));
});
