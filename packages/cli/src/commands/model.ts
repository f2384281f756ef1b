import type { CommandModule } from 'yargs';
import type { KeyObject } from 'node:crypto';

/**
 * `custody model sign|verify`: OpenSSF model_signing (v1.0 format) signatures of a model folder,
 * `model.sig` — a Sigstore bundle around an in-toto Statement listing every file's sha256.
 * Key-based (EC P-256/P-384/P-521, as model_signing accepts) or keyless (Fulcio + Rekor).
 */

interface SignArgs {
  dir: string;
  key?: string;
  'passphrase-file'?: string;
  keyless?: boolean;
  'identity-token-file'?: string;
  'fulcio-url'?: string;
  'rekor-url'?: string;
  'tsa-url'?: string;
  'rekor-entry-type'?: 'dsse' | 'intoto';
  tlog?: boolean;
  'signing-timeout'?: number;
  signature?: string;
  'ignore-paths'?: string[];
  'shard-size'?: number;
  json: boolean;
}

interface VerifyArgs {
  dir: string;
  signature?: string;
  key?: string;
  'trusted-root'?: string;
  identity?: string;
  'identity-regexp'?: string;
  issuer?: string;
  'ignore-paths'?: string[];
  json: boolean;
}

/** What model_signing always leaves out, whatever --signature says. */
const DEFAULT_SIGNATURE_NAME = 'model.sig';

async function usage(message: string): Promise<never> {
  const { CustodyError } = await import('@custody/core');
  throw new CustodyError('USAGE', message);
}

async function requireDirectory(dir: string): Promise<void> {
  const { stat } = await import('node:fs/promises');
  const { CustodyError } = await import('@custody/core');
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
    throw new CustodyError(code, `cannot read the model folder: ${(e as Error).message}`, { file: dir, cause: e });
  }
  if (!isDir) throw new CustodyError('USAGE', 'the model must be a folder', { file: dir });
}

/** The signature's path relative to the model folder when it lies inside it (it is then not hashed). */
async function signatureInside(dir: string, signature: string): Promise<string | undefined> {
  const { isAbsolute, relative, sep } = await import('node:path');
  const rel = relative(dir, signature);
  if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) return undefined;
  return rel.split(sep).join('/');
}

async function ensureEcKey(key: KeyObject, file: string): Promise<void> {
  const { CustodyError } = await import('@custody/core');
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const supported = ['prime256v1', 'secp384r1', 'secp521r1'];
  if (key.asymmetricKeyType !== 'ec' || !supported.includes(curve ?? '')) {
    const names: Record<string, string> = { ed25519: 'an Ed25519 key', ed448: 'an Ed448 key', rsa: 'an RSA key', 'rsa-pss': 'an RSA-PSS key' };
    const what = key.asymmetricKeyType === 'ec' ? `an EC key on curve ${curve ?? '?'}` : names[key.asymmetricKeyType ?? ''] ?? `a ${key.asymmetricKeyType ?? 'unknown'} key`;
    throw new CustodyError('KEY_UNSUPPORTED',
      `model_signing key signatures need an elliptic-curve key (P-256, P-384 or P-521); this is ${what} (create one with: custody keygen NAME --type ecdsa-p256)`,
      { file });
  }
}

/** Loads a private key for model signing: custody's key formats, plus P-521 PEM keys custody's in-toto keys do not cover. */
async function modelKeySigner(path: string, passphrase: string | undefined): Promise<{ signer: import('@custody/plugin-model').ModelBundleSigner; publicKey: KeyObject }> {
  const sign = await import('@custody/sign');
  const model = await import('@custody/plugin-model');
  const { isCustodyError } = await import('@custody/core');
  let loaded: import('@custody/sign').Signer;
  try {
    loaded = await sign.loadSigner(path, { passphrase });
  } catch (e) {
    if (!(isCustodyError(e) && e.code === 'KEY_UNSUPPORTED')) throw e;
    const { createPrivateKey } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: await readFile(path), format: 'pem', ...(passphrase ? { passphrase } : {}) });
    } catch {
      throw e;
    }
    await ensureEcKey(key, path);
    const { createPublicKey } = await import('node:crypto');
    return { signer: model.ecKeyBundleSigner(key), publicKey: createPublicKey(key) };
  }
  const publicKey = loaded.publicKey.keyObject;
  await ensureEcKey(publicKey, path);
  // custody's signer hashes ECDSA by curve (P-256 SHA-256, P-384 SHA-384), as model_signing does.
  return {
    signer: {
      sign: (pae) => loaded.sign(pae),
      verificationMaterial: () => ({ publicKey: { hint: model.publicKeyHint(publicKey) }, tlogEntries: [] }),
    },
    publicKey,
  };
}

async function modelPublicKey(path: string): Promise<KeyObject> {
  const sign = await import('@custody/sign');
  let key: KeyObject;
  try {
    key = (await sign.loadPublicKey(path)).keyObject;
  } catch (e) {
    // P-521 and DER keys are valid model_signing keys that custody's in-toto key model leaves out.
    const { createPublicKey } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    try {
      const bytes = await readFile(path);
      key = /-----BEGIN/.test(bytes.toString('latin1')) ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' });
    } catch {
      throw e;
    }
  }
  if (key.type === 'private') {
    const { createPublicKey } = await import('node:crypto');
    key = createPublicKey(key);
  }
  await ensureEcKey(key, path);
  return key;
}

function filesOf(resources: readonly { name: string }[], method: 'files' | 'shards'): string[] {
  const names = resources.map((r) => (method === 'shards' ? r.name.slice(0, r.name.lastIndexOf(':', r.name.lastIndexOf(':') - 1)) : r.name));
  return [...new Set(names)];
}

const signCommand: CommandModule<object, SignArgs> = {
  command: 'sign <dir>',
  describe: 'sign a model folder into model.sig (OpenSSF model_signing v1.0 format) with an EC key or keylessly',
  builder: (y) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the model folder' })
    .option('key', { type: 'string', describe: 'private key (EC P-256/P-384/P-521 PEM, e.g. from custody keygen --type ecdsa-p256)' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase of an encrypted --key' })
    .option('keyless', { type: 'boolean', describe: 'sign with a Sigstore certificate for an OIDC identity (Fulcio + Rekor)' })
    .option('identity-token-file', { type: 'string', describe: 'keyless: file holding the OIDC identity token (default: SIGSTORE_ID_TOKEN or GitHub Actions)' })
    .option('fulcio-url', { type: 'string', describe: 'keyless: Fulcio URL (default https://fulcio.sigstore.dev)' })
    .option('rekor-url', { type: 'string', describe: 'keyless: Rekor URL (default https://rekor.sigstore.dev)' })
    .option('tsa-url', { type: 'string', describe: 'keyless: RFC 3161 timestamp authority URL (adds a timestamp)' })
    .option('tlog', { type: 'boolean', describe: 'keyless: write a Rekor entry (default; --no-tlog needs --tsa-url)' })
    .option('rekor-entry-type', { choices: ['dsse', 'intoto'] as const, describe: 'keyless: Rekor entry kind (default dsse; intoto for logs without dsse support)' })
    .option('signing-timeout', { type: 'number', describe: 'keyless: timeout of each request to Fulcio, Rekor, the TSA or the CI token endpoint, in seconds (default 30)' })
    .option('signature', { type: 'string', describe: 'where to write the signature (default DIR/model.sig)' })
    .option('ignore-paths', { type: 'string', array: true, describe: 'paths in the model folder to leave out (recorded in the signature)' })
    .option('shard-size', { type: 'number', describe: 'hash files in shards of this many bytes ("path:start:end" resources) instead of whole files' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }) as any,
  handler: async (argv) => {
    const { join } = await import('node:path');
    const { CustodyError } = await import('@custody/core');
    if (argv.key !== undefined && argv.keyless) await usage('give either --key or --keyless, not both');
    if (argv.key === undefined && !argv.keyless) await usage('give --key PRIVATE_KEY or --keyless');
    const keylessFlags = (['identity-token-file', 'fulcio-url', 'rekor-url', 'tsa-url', 'rekor-entry-type', 'tlog', 'signing-timeout'] as const).filter((f) => argv[f] !== undefined);
    if (!argv.keyless && keylessFlags.length > 0) await usage(`--${keylessFlags[0]} needs --keyless`);
    if (argv.keyless && argv['passphrase-file'] !== undefined) await usage('--passphrase-file belongs to --key');
    const shardSize = argv['shard-size'];
    if (shardSize !== undefined && !(Number.isSafeInteger(shardSize) && shardSize > 0)) await usage('--shard-size must be a positive whole number of bytes');
    await requireDirectory(argv.dir);

    const sign = await import('@custody/sign');
    const model = await import('@custody/plugin-model');
    const signaturePath = argv.signature ?? join(argv.dir, DEFAULT_SIGNATURE_NAME);
    const inside = await signatureInside(argv.dir, signaturePath);
    const ignorePaths = [...(argv['ignore-paths'] ?? []), ...(inside && inside !== DEFAULT_SIGNATURE_NAME ? [inside] : [])];

    let bundleSigner: import('@custody/plugin-model').ModelBundleSigner;
    let describeSigner: () => Record<string, string>;
    if (argv.key !== undefined) {
      const passphrase = argv['passphrase-file'] ? await sign.readPassphraseFile(argv['passphrase-file']) : undefined;
      const { signer, publicKey } = await modelKeySigner(argv.key, passphrase);
      bundleSigner = signer;
      describeSigner = () => ({ kind: 'key', keyHint: model.publicKeyHint(publicKey) });
    } else {
      // The same flags and defaults as the other keyless commands (custody run, layout sign).
      const keyless = await model.keylessModelBundleSigner({ ...sign.keylessOptionsFromArgv(argv), rekorEntryType: argv['rekor-entry-type'] });
      bundleSigner = keyless.signer;
      describeSigner = () => {
        const id = keyless.identity();
        return { kind: 'keyless', ...(id ? { identity: id.subject, issuer: id.issuer } : {}) };
      };
    }

    const { bundle, statement, manifest } = await model.signModel(argv.dir, bundleSigner, {
      method: shardSize !== undefined ? 'shards' : 'files',
      shardSize,
      ignorePaths,
      signatureFile: DEFAULT_SIGNATURE_NAME,
    });
    try {
      await (await import('@custody/store/atomic')).writeFileAtomic(signaturePath, model.serializeModelSignature(bundle));
    } catch (e) {
      if (e instanceof CustodyError) throw e;
      throw new CustodyError('FILE_UNWRITABLE', `cannot write the signature: ${(e as Error).message}`, { file: signaturePath, cause: e });
    }
    const files = filesOf(manifest.resources, manifest.serialization.method);
    const rootDigest = statement.subject[0].digest.sha256;
    const signer = describeSigner();
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({
        signature: signaturePath, model: statement.subject[0].name, rootDigest: `sha256:${rootDigest}`,
        files: files.length, resources: manifest.resources.length, serialization: manifest.serialization, signer,
      }, null, 2)}\n`);
    } else {
      const who = signer.kind === 'key' ? `key ${signer.keyHint}` : `${signer.identity ?? '?'} (issuer ${signer.issuer ?? '?'})`;
      const shards = manifest.serialization.method === 'shards' ? ` in ${manifest.resources.length} shard(s)` : '';
      process.stdout.write(`signed:      ${files.length} file(s)${shards} of ${argv.dir}\nroot digest: sha256:${rootDigest}\nsigner:      ${who}\nsignature:   ${signaturePath}\n`);
    }
  },
};

const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <dir>',
  describe: 'verify a model folder against its model.sig (custody or OpenSSF model_signing v1.0/v1.1, key or Sigstore)',
  builder: (y) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the model folder' })
    .option('signature', { type: 'string', describe: 'the signature (default DIR/model.sig)' })
    .option('key', { type: 'string', describe: 'public key (EC PEM) for key-signed models' })
    .option('trusted-root', { type: 'string', describe: 'Sigstore trusted_root.json for keyless signatures' })
    .option('identity', { type: 'string', describe: 'keyless: expected signer identity (certificate SAN: email or URI)' })
    .option('identity-regexp', { type: 'string', describe: 'keyless: expected signer identity as a regular expression (anchored)' })
    .option('issuer', { type: 'string', describe: 'keyless: expected OIDC issuer of the signer identity' })
    .option('ignore-paths', { type: 'string', array: true, describe: 'paths in the model folder to leave out (besides those the signature records)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }) as any,
  handler: async (argv) => {
    const { join } = await import('node:path');
    const { readFile } = await import('node:fs/promises');
    const { CustodyError, isCustodyError } = await import('@custody/core');
    const keylessGiven = argv['trusted-root'] !== undefined || argv.identity !== undefined || argv['identity-regexp'] !== undefined || argv.issuer !== undefined;
    if (argv.key !== undefined && keylessGiven) await usage('give either --key or --trusted-root with --identity and --issuer, not both');
    if (argv.key === undefined && !keylessGiven) await usage('give --key PUBLIC_KEY, or --trusted-root F --identity S --issuer I');
    if (keylessGiven) {
      if (argv['trusted-root'] === undefined) await usage('keyless verification needs --trusted-root (custody does not fetch trust material)');
      if (argv.issuer === undefined) await usage('keyless verification needs --issuer');
      if ((argv.identity === undefined) === (argv['identity-regexp'] === undefined)) await usage('give exactly one of --identity and --identity-regexp');
    }
    const signaturePath = argv.signature ?? join(argv.dir, DEFAULT_SIGNATURE_NAME);
    const inside = await signatureInside(argv.dir, signaturePath);
    const ignorePaths = [...(argv['ignore-paths'] ?? []), DEFAULT_SIGNATURE_NAME, ...(inside ? [inside] : [])];

    const failJson = (e: unknown) => {
      if (argv.json && isCustodyError(e)) {
        process.stdout.write(`${JSON.stringify({ verified: false, failure: { code: e.code, message: e.message, file: e.file ?? null } }, null, 2)}\n`);
      }
      throw e;
    };
    try {
      await requireDirectory(argv.dir);
      const model = await import('@custody/plugin-model');
      let verifier: import('@custody/plugin-model').ModelBundleVerifier;
      let signer: Record<string, unknown>;
      if (argv.key !== undefined) {
        const publicKey = await modelPublicKey(argv.key);
        verifier = model.ecKeyBundleVerifier(publicKey);
        signer = { kind: 'key', keyHint: model.publicKeyHint(publicKey) };
      } else {
        const sign = await import('@custody/sign');
        const trustedRoot = await sign.loadTrustedRoot(argv['trusted-root']!);
        const identity = sign.validateIdentityPolicy(argv.identity !== undefined
          ? { issuer: argv.issuer, subject: argv.identity }
          : { issuer: argv.issuer, subjectPattern: argv['identity-regexp'] });
        signer = { kind: 'keyless' };
        verifier = model.keylessModelBundleVerifier({
          trustedRoot, identity, file: signaturePath,
          onVerified: (r) => {
            signer = { kind: 'keyless', identity: r.identity.subject, issuer: r.identity.issuer, signingTimes: r.signingTimes.map((t) => t.toISOString()) };
          },
        });
      }
      let signatureText: string;
      try {
        signatureText = await readFile(signaturePath, 'utf8');
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
        throw new CustodyError(code, `cannot read the signature: ${(e as Error).message}`, { file: signaturePath, cause: e });
      }
      const signed = await model.verifyModel(argv.dir, signatureText, { verifier, ignorePaths, signatureFile: signaturePath });
      const files = filesOf(signed.resources, signed.serialization.method);
      const rootDigest = model.modelRootDigest(signed.resources);
      if (argv.json) {
        process.stdout.write(`${JSON.stringify({
          verified: true, signature: signaturePath, model: signed.modelName, rootDigest: `sha256:${rootDigest}`,
          files, resources: signed.resources.length, serialization: signed.serialization, signer,
        }, null, 2)}\n`);
      } else {
        const who = signer.kind === 'key' ? `key ${String(signer.keyHint)}` : `${String(signer.identity)} (issuer ${String(signer.issuer)})`;
        process.stdout.write(`verified:    ${files.length} file(s) of ${argv.dir} match ${signaturePath}\nroot digest: sha256:${rootDigest}\nsigner:      ${who}\n`);
      }
    } catch (e) {
      failJson(e);
    }
  },
};

export const modelCommand: CommandModule<object, object> = {
  command: 'model <command>',
  describe: 'sign and verify model folders (OpenSSF model_signing model.sig)',
  builder: (y) => y.command(signCommand).command(verifyCommand).demandCommand(1, 'name a model command: sign or verify') as any,
  handler: () => {},
};
