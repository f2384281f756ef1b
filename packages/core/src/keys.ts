import { createHash, createPrivateKey, createPublicKey, verify as cryptoVerify, constants, KeyObject } from 'node:crypto';
import { encodeCanonical } from './canonical.ts';
import { CustodyError } from './errors.ts';
import { parseJson } from './json.ts';

/** The signature schemes legacy in-toto (securesystemslib 0.26) can verify and custody can sign with. */
export type SigningScheme = 'ed25519' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'rsassa-pss-sha256';

/** A public key as securesystemslib writes it (e.g. in a layout's `keys`). */
export interface SslibKey {
  keytype: string;
  scheme: string;
  keyid_hash_algorithms?: string[];
  keyval: { public: string };
  keyid?: string;
}

export interface PublicKey {
  keyid: string;
  scheme: SigningScheme;
  /** The sslib form embedded in layouts: no private part. */
  sslib: SslibKey;
  keyObject: KeyObject;
}

/** securesystemslib 0.26 `settings.HASH_ALGORITHMS`; always part of what the keyid hashes. */
export const KEYID_HASH_ALGORITHMS: readonly string[] = ['sha256', 'sha512'];

const SCHEMES: readonly SigningScheme[] = ['ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'rsassa-pss-sha256'];
const ECDSA_KEYTYPES = new Set(['ecdsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384']);
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * keyid as securesystemslib 0.26 computes it (`keys._get_keyid`): sha256 over the canonical JSON
 * of keytype, scheme, keyval.public and the *default* keyid_hash_algorithms — whatever the
 * object itself lists.
 */
export function computeKeyid(sslib: SslibKey): string {
  const meta = {
    keytype: sslib.keytype,
    scheme: sslib.scheme,
    keyid_hash_algorithms: [...KEYID_HASH_ALGORITHMS],
    keyval: { public: sslib.keyval.public },
  };
  return createHash('sha256').update(encodeCanonical(meta), 'utf8').digest('hex');
}

/** Trim a PEM to header…footer like securesystemslib's `extract_pem` (drops surrounding whitespace). */
function extractPem(pem: string, label: string): string | undefined {
  const header = `-----BEGIN ${label}-----`;
  const footer = `-----END ${label}-----`;
  const start = pem.indexOf(header);
  if (start < 0) return undefined;
  const end = pem.indexOf(footer, start + header.length);
  if (end < 0) return undefined;
  return pem.slice(start, end + footer.length).replace(/\r\n/g, '\n');
}

function isScheme(s: unknown): s is SigningScheme {
  return typeof s === 'string' && (SCHEMES as readonly string[]).includes(s);
}

function fail(code: 'KEY_INVALID' | 'KEY_UNSUPPORTED' | 'KEY_PASSPHRASE', message: string, file?: string, cause?: unknown): never {
  throw new CustodyError(code, message, { file, cause });
}

/** The scheme a key of this kind signs with; undefined if legacy in-toto cannot use it. */
export function schemeForKeyObject(key: KeyObject): SigningScheme | undefined {
  switch (key.asymmetricKeyType) {
    case 'ed25519': return 'ed25519';
    case 'rsa': return 'rsassa-pss-sha256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ecdsa-sha2-nistp256';
      if (curve === 'secp384r1') return 'ecdsa-sha2-nistp384';
      return undefined;
    }
    default: return undefined;
  }
}

function describeKeyType(key: KeyObject): string {
  const t = key.asymmetricKeyType ?? 'unknown';
  if (t === 'ec') return `ec ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}`;
  return t;
}

/**
 * The sslib representation custody uses for a key it reads from PEM:
 * - rsa: keytype 'rsa', scheme rsassa-pss-sha256, public = SPKI PEM trimmed (as `import_rsakey_from_pem`);
 * - ecdsa: keytype 'ecdsa', scheme by curve, public = SPKI PEM trimmed (as `import_ecdsakey_from_pem`);
 * - ed25519: keytype 'ed25519', scheme 'ed25519', public = 64 hex chars of the raw key
 *   (the only ed25519 form securesystemslib 0.26 knows).
 */
export function sslibFromKeyObject(key: KeyObject, fileName?: string, wanted?: SigningScheme): { sslib: SslibKey; scheme: SigningScheme } {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const scheme = schemeForKeyObject(pub);
  if (!scheme) fail('KEY_UNSUPPORTED', `unsupported key type ${describeKeyType(pub)} (custody supports ed25519, ecdsa P-256/P-384, rsa)`, fileName);
  if (wanted && wanted !== scheme) {
    // Only ecdsa allows a deliberate mismatch in sslib (hash chosen by scheme); custody refuses it.
    fail('KEY_UNSUPPORTED', `scheme ${wanted} does not fit a ${describeKeyType(pub)} key`, fileName);
  }
  let publicValue: string;
  let keytype: string;
  if (scheme === 'ed25519') {
    keytype = 'ed25519';
    const jwk = pub.export({ format: 'jwk' });
    publicValue = Buffer.from(jwk.x as string, 'base64url').toString('hex');
  } else {
    keytype = scheme === 'rsassa-pss-sha256' ? 'rsa' : 'ecdsa';
    publicValue = extractPem(pub.export({ format: 'pem', type: 'spki' }) as string, 'PUBLIC KEY')!;
  }
  return { scheme, sslib: { keytype, scheme, keyid_hash_algorithms: [...KEYID_HASH_ALGORITHMS], keyval: { public: publicValue } } };
}

function publicKeyFromKeyObject(key: KeyObject, fileName?: string, wanted?: SigningScheme): PublicKey {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const { sslib, scheme } = sslibFromKeyObject(pub, fileName, wanted);
  const keyid = computeKeyid(sslib);
  return { keyid, scheme, sslib: { ...sslib, keyid }, keyObject: pub };
}

/** A KeyObject for the public part of an sslib key dict (validating type, scheme and value). */
function keyObjectFromSslib(sslib: SslibKey, fileName?: string): { keyObject: KeyObject; scheme: SigningScheme } {
  const { keytype, scheme } = sslib;
  const pub = sslib.keyval.public;
  if (!isScheme(scheme)) fail('KEY_UNSUPPORTED', `unsupported signature scheme ${JSON.stringify(scheme)}`, fileName);
  let keyObject: KeyObject;
  try {
    if (keytype === 'ed25519') {
      if (scheme !== 'ed25519') fail('KEY_UNSUPPORTED', `scheme ${scheme} does not fit keytype ed25519`, fileName);
      if (!HEX64.test(pub.toLowerCase())) fail('KEY_INVALID', 'ed25519 public key must be 64 hex characters', fileName);
      keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub, 'hex').toString('base64url') }, format: 'jwk' });
    } else if (keytype === 'rsa' || ECDSA_KEYTYPES.has(keytype)) {
      keyObject = createPublicKey({ key: pub, format: 'pem' });
    } else {
      fail('KEY_UNSUPPORTED', `unsupported keytype ${JSON.stringify(keytype)}`, fileName);
    }
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    fail('KEY_INVALID', `cannot parse ${keytype} public key: ${(e as Error).message}`, fileName, e);
  }
  const actual = schemeForKeyObject(keyObject);
  if (!actual) fail('KEY_UNSUPPORTED', `unsupported key type ${describeKeyType(keyObject)}`, fileName);
  const family = (s: SigningScheme) => (s.startsWith('ecdsa') ? 'ecdsa' : s);
  if (family(actual) !== family(scheme) || (keytype === 'rsa') !== (actual === 'rsassa-pss-sha256')) {
    fail('KEY_INVALID', `keytype ${keytype} / scheme ${scheme} does not match the key material (${describeKeyType(keyObject)})`, fileName);
  }
  return { keyObject, scheme };
}

function asSslib(obj: unknown, fileName?: string): SslibKey & { keyval: { public: string; private?: string } } {
  const o = obj as Record<string, unknown> | null;
  const keyval = o && typeof o === 'object' ? (o.keyval as Record<string, unknown> | undefined) : undefined;
  if (!o || typeof o !== 'object' || Array.isArray(o) || typeof o.keytype !== 'string' || typeof o.scheme !== 'string'
    || !keyval || typeof keyval !== 'object' || typeof keyval.public !== 'string') {
    fail('KEY_INVALID', 'not a securesystemslib key (needs keytype, scheme, keyval.public)', fileName);
  }
  return o as unknown as SslibKey & { keyval: { public: string; private?: string } };
}

/**
 * A public key from its securesystemslib dict (layout `keys` entry, or a `.pub`/private JSON key file).
 * The keyid is always computed from the key material, as securesystemslib does on import: a
 * `keyid` field inside the object is a label anyone can write, so one that differs from the
 * computed keyid makes the key invalid (it would otherwise name another functionary's key).
 */
export function publicKeyFromSslib(obj: unknown, fileName?: string): PublicKey {
  const src = asSslib(obj, fileName);
  const { keyObject, scheme } = keyObjectFromSslib(src, fileName);
  const sslib: SslibKey = {
    keytype: src.keytype,
    scheme: src.scheme,
    keyid_hash_algorithms: Array.isArray(src.keyid_hash_algorithms) ? [...src.keyid_hash_algorithms] : [...KEYID_HASH_ALGORITHMS],
    keyval: { public: src.keyval.public },
  };
  const keyid = computeKeyid(sslib);
  if (src.keyid !== undefined && src.keyid !== keyid) {
    fail('KEY_INVALID', `the key file says its keyid is ${JSON.stringify(src.keyid)}, but its key material's keyid is ${keyid}`, fileName);
  }
  return { keyid, scheme, sslib: { ...sslib, keyid }, keyObject };
}

/**
 * The key material of an sslib public key as SPKI DER (hex), so that two entries that spell the
 * same key differently (hex case, PEM line breaks, keytype aliases) are seen as one key;
 * undefined when custody cannot read the key.
 */
export function sameKeyMaterial(sslib: SslibKey): string | undefined {
  try {
    return keyObjectFromSslib(sslib).keyObject.export({ format: 'der', type: 'spki' }).toString('hex');
  } catch {
    return undefined;
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

/** A public key from PEM text: SPKI, PKCS#1 RSA public, or an unencrypted private PEM (its public part). */
export function publicKeyFromPem(pem: string, opts: { scheme?: SigningScheme; fileName?: string } = {}): PublicKey {
  const m = PEM_BLOCK.exec(pem);
  if (!m) fail('KEY_INVALID', 'no PEM block found', opts.fileName);
  const label = m[1];
  if (label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(pem)) {
    fail('KEY_PASSPHRASE', 'private key is encrypted; use its .pub file or give the passphrase', opts.fileName);
  }
  let key: KeyObject;
  try {
    key = /PRIVATE KEY$/.test(label) ? createPrivateKey({ key: pem, format: 'pem' }) : createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    // Keys OpenSSL parses but custody cannot use (DSA, P-521, ...) are rejected below as
    // KEY_UNSUPPORTED; a parse failure means the file is not a valid key.
    fail('KEY_INVALID', `not a valid ${label.toLowerCase()} PEM (${(e as Error).message})`, opts.fileName, e);
  }
  return publicKeyFromKeyObject(key, opts.fileName, opts.scheme);
}

/** The sslib encryption format of in-toto-keygen -p: salt@@@@iterations@@@@hmac@@@@iv@@@@ciphertext. */
export const SSLIB_ENCRYPTED = /^[0-9a-f]+@@@@[0-9]+@@@@[0-9a-f]+@@@@[0-9a-f]+@@@@[0-9a-f]+$/;

/**
 * Reads a key file's text and returns its public key: SPKI/PKCS#1 PEM, unencrypted PKCS#8/PKCS#1/SEC1
 * private PEM, or a securesystemslib JSON public or private key file.
 */
export function parsePublicKeyText(text: string, fileName: string): PublicKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const obj = parseJson(trimmed, { file: fileName, code: 'KEY_INVALID', what: 'key file' });
    return publicKeyFromSslib(obj, fileName);
  }
  if (SSLIB_ENCRYPTED.test(trimmed)) {
    fail('KEY_PASSPHRASE', 'encrypted securesystemslib private key; use its .pub file or give the passphrase', fileName);
  }
  if (!PEM_BLOCK.test(text)) fail('KEY_INVALID', 'not a key: expected PEM or securesystemslib JSON', fileName);
  return publicKeyFromPem(text, { fileName });
}

/** Verifies a raw signature (ed25519 raw, ecdsa DER, rsa PSS with any salt length) over data. */
export function verifyRaw(key: PublicKey, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    switch (key.scheme) {
      case 'ed25519':
        return cryptoVerify(null, data, key.keyObject, sig);
      case 'ecdsa-sha2-nistp256':
        return cryptoVerify('sha256', data, { key: key.keyObject, dsaEncoding: 'der' }, sig);
      case 'ecdsa-sha2-nistp384':
        return cryptoVerify('sha384', data, { key: key.keyObject, dsaEncoding: 'der' }, sig);
      case 'rsassa-pss-sha256':
        return cryptoVerify('sha256', data, {
          key: key.keyObject,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_AUTO,
        }, sig);
      default:
        return false;
    }
  } catch {
    // Malformed signature bytes (e.g. bad DER) are simply not a valid signature.
    return false;
  }
}
