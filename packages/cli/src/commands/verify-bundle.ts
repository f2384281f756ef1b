import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';

interface VerifyBundleArgs {
  files?: string[];
  bundle?: string;
  artifact?: string;
  key?: string;
  'trusted-root'?: string;
  'certificate-identity'?: string;
  'certificate-identity-regexp'?: string;
  'certificate-oidc-issuer'?: string;
  staging?: boolean;
  json?: boolean;
}

const DIGEST = /^sha256:([0-9a-fA-F]{64})$/;

async function readBytes(path: string, what: string): Promise<Buffer> {
  const { CustodyError } = await import('@custody/core');
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE';
    throw new CustodyError(code, `cannot read the ${what}: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/**
 * A DSSE envelope that is no Sigstore bundle (`payload`, `payloadType`, `signatures`, no
 * `mediaType`): verified with the key over PAE of the raw payload. undefined: not an envelope.
 */
async function verifyBareDsse(
  text: Buffer, file: string, key: unknown, artifact: import('@custody/sign').ArtifactInput | undefined, byIdentity: boolean,
): Promise<{ payloadType: string; predicateType?: string } | undefined> {
  let data: unknown;
  try {
    data = JSON.parse(text.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!data || typeof data !== 'object' || 'mediaType' in data || !('payload' in data) || !('payloadType' in data)) return undefined;
  const core = await import('@custody/core');
  if (byIdentity || !key || !('keyid' in (key as object))) throw new core.CustodyError('USAGE', 'a bare DSSE envelope is verified with --key (an in-toto public key); it carries no certificate', { file });
  const signed = core.parseSignedFile(text.toString('utf8'), file);
  if (signed.format !== 'dsse') return undefined;
  if (!core.verifySignedFile(signed, key as import('@custody/core').PublicKey)) {
    throw new core.CustodyError('SIGNATURE_INVALID', `DSSE envelope is not signed by ${(key as { keyid: string }).keyid.slice(0, 8)}`, { file });
  }
  const body = signed.body as { predicateType?: unknown; subject?: unknown };
  if (artifact) {
    const { createHash } = await import('node:crypto');
    const want = 'sha256' in artifact ? artifact.sha256 : createHash('sha256').update(artifact.bytes).digest('hex');
    const subjects = Array.isArray(body.subject) ? body.subject as { digest?: { sha256?: string } }[] : [];
    if (!subjects.some((x) => x.digest?.sha256 === want)) throw new core.CustodyError('DIGEST_MISMATCH', `no subject of the statement has sha256 ${want}`, { file });
  }
  return { payloadType: signed.envelope.payloadType, ...(typeof body.predicateType === 'string' ? { predicateType: body.predicateType } : {}) };
}

/**
 * `custody verify-bundle` checks one Sigstore bundle by itself, offline. Its flags follow the
 * sigstore-conformance CLI protocol (`--bundle FILE ... FILE_OR_DIGEST`), so custody can be the
 * suite's verify entrypoint; `custody verify-bundle BUNDLE --artifact F` is the short form.
 */
export const verifyBundleCommand: CommandModule<object, VerifyBundleArgs> = {
  command: 'verify-bundle [files..]',
  describe: 'verify one Sigstore bundle (message signature or DSSE) with a public key or a certificate identity and a trusted root, offline',
  builder: (y) => y
    .positional('files', { type: 'string', array: true, describe: 'BUNDLE [ARTIFACT], or with --bundle: the ARTIFACT file or sha256:HEX digest' })
    .option('bundle', { type: 'string', describe: 'the bundle (*.sigstore.json); the positional argument is then the artifact' })
    .option('artifact', { type: 'string', describe: 'the signed artifact (message signatures) or an in-toto subject (DSSE): a file or sha256:HEX' })
    .option('key', { type: 'string', describe: 'public key file (PEM or securesystemslib JSON) for key-signed bundles' })
    .option('trusted-root', { type: 'string', describe: 'Sigstore trusted_root.json: CAs, CT logs, transparency logs, TSAs' })
    .option('certificate-identity', { type: 'string', describe: 'expected certificate subject (SAN: URI or email)' })
    .option('certificate-identity-regexp', { type: 'string', describe: 'expected certificate subject as a regular expression (anchored at both ends)' })
    .option('certificate-oidc-issuer', { type: 'string', describe: 'expected OIDC issuer of the certificate' })
    .option('staging', { type: 'boolean', describe: 'not supported: custody verifies offline against the given --trusted-root' })
    .option('json', { type: 'boolean', default: false, describe: 'print the verified content and identity as JSON' }) as any,
  handler: async (argv) => {
    const { CustodyError } = await import('@custody/core');
    const sign = await import('@custody/sign');
    const usage = (message: string): never => {
      throw new CustodyError('USAGE', message);
    };
    {
      const files = argv.files ?? [];
      let bundlePath: string;
      let artifactArg = argv.artifact;
      if (argv.bundle !== undefined) {
        bundlePath = argv.bundle;
        if (files.length > 1) usage('with --bundle, give at most one artifact (file or sha256:HEX)');
        if (files.length === 1) {
          if (artifactArg !== undefined) usage('give the artifact either as --artifact or as the argument, not both');
          artifactArg = files[0];
        }
      } else {
        if (files.length === 0) usage('name the bundle to verify (custody verify-bundle BUNDLE [--artifact F])');
        if (files.length > 2) usage('too many arguments: BUNDLE [ARTIFACT]');
        bundlePath = files[0];
        if (files.length === 2) {
          if (artifactArg !== undefined) usage('give the artifact either as --artifact or as the argument, not both');
          artifactArg = files[1];
        }
      }
      if (argv.staging) usage('--staging is not supported: custody verifies offline; give the staging trusted root with --trusted-root');
      const identityGiven = argv['certificate-identity'] !== undefined || argv['certificate-identity-regexp'] !== undefined || argv['certificate-oidc-issuer'] !== undefined;
      if (argv.key !== undefined && identityGiven) usage('give either --key or a certificate identity (--certificate-identity/--certificate-oidc-issuer), not both');
      if (argv['certificate-identity'] !== undefined && argv['certificate-identity-regexp'] !== undefined) usage('give --certificate-identity or --certificate-identity-regexp, not both');
      if (argv.key === undefined && !identityGiven) usage('give --key PUB, or --trusted-root with --certificate-identity and --certificate-oidc-issuer');

      let identity: import('@custody/sign').IdentityPolicy | undefined;
      if (identityGiven) {
        if (!argv['certificate-oidc-issuer']) usage('--certificate-oidc-issuer is required with a certificate identity');
        if (!argv['trusted-root']) usage('a certificate identity needs --trusted-root (custody does not fetch trust material)');
        const subject = argv['certificate-identity'];
        const pattern = argv['certificate-identity-regexp'];
        if (subject === undefined && pattern === undefined) usage('--certificate-identity (or --certificate-identity-regexp) is required with --certificate-oidc-issuer');
        identity = sign.validateIdentityPolicy(subject !== undefined
          ? { issuer: argv['certificate-oidc-issuer'], subject }
          : { issuer: argv['certificate-oidc-issuer'], subjectPattern: pattern });
      }

      let artifact: import('@custody/sign').ArtifactInput | undefined;
      if (artifactArg !== undefined) {
        const m = DIGEST.exec(artifactArg);
        // As the conformance protocol says: a digest-looking argument that names a file is a file.
        artifact = m && !existsSync(artifactArg) ? { sha256: m[1].toLowerCase() } : { bytes: await readBytes(artifactArg, 'artifact') };
      }

      let key: import('@custody/core').PublicKey | import('node:crypto').KeyObject | undefined;
      if (argv.key !== undefined) {
        try {
          key = await sign.loadPublicKey(argv.key);
        } catch (e) {
          // Keys custody does not model as in-toto keys (e.g. P-521, RSA PKCS#1 v1.5) still verify bundles.
          const { createPublicKey } = await import('node:crypto');
          const text = await readBytes(argv.key, 'key');
          try {
            key = createPublicKey(text);
          } catch {
            throw e;
          }
        }
      }
      const trustedRoot = argv['trusted-root'] !== undefined ? await sign.loadTrustedRoot(argv['trusted-root']) : undefined;
      const bundleText = await readBytes(bundlePath, 'bundle');
      // a bare DSSE envelope (`custody run --format dsse` writes *.att.json): key-signed only
      const dsse = await verifyBareDsse(bundleText, bundlePath, key, artifact, identity !== undefined);
      if (dsse) {
        if (argv.json) process.stdout.write(`${JSON.stringify({ verified: true, content: 'dsseEnvelope', payloadType: dsse.payloadType, identity: null, signingTimes: [], predicateType: dsse.predicateType }, null, 2)}\n`);
        else process.stdout.write(`verified: DSSE envelope (${dsse.payloadType}) signed by the given key\n`);
        return;
      }
      const result = sign.verifySigstoreBundle(bundleText, { key, trustedRoot, identity, artifact, file: bundlePath });

      const what = result.content === 'messageSignature' ? 'message signature' : `DSSE envelope (${result.payloadType})`;
      const who = result.identity ? `${result.identity.subject} (issuer ${result.identity.issuer})` : 'the given key';
      if (argv.json) {
        process.stdout.write(`${JSON.stringify({
          verified: true, content: result.content, payloadType: result.payloadType, identity: result.identity ?? null,
          signingTimes: result.signingTimes.map((t) => t.toISOString()), predicateType: result.statement?.predicateType,
        }, null, 2)}\n`);
      } else {
        process.stdout.write(`verified: ${what} signed by ${who}\n`);
      }
    }
  },
};
