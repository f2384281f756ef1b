import {
  createDecipheriv, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, pbkdf2, sign as cryptoSign,
  constants, timingSafeEqual, type KeyObject,
} from 'node:crypto';
import { access, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  CustodyError, SSLIB_ENCRYPTED, parseJson, parsePublicKeyText, publicKeyFromPem, publicKeyFromSslib,
  type PublicKey, type SigningScheme,
} from '@custody/core';
import { writeFileAtomic } from '@custody/store/atomic';
import { readTextFile } from './files.ts';

/** Signs bytes with one private key. The private key never leaves this object. */
export interface Signer {
  keyid: string;
  publicKey: PublicKey;
  /** Raw signature bytes: ed25519 raw, ecdsa DER, rsa PSS (salt = digest length). */
  sign(data: Uint8Array): Promise<Buffer>;
}

export type KeyType = 'ed25519' | 'ecdsa-p256' | 'ecdsa-p384' | 'rsa';
export const KEY_TYPES: readonly KeyType[] = ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa'];

export interface KeyPair { privatePem: string; publicPem: string; keyid: string }

const signAsync = promisify(cryptoSign);

/** Key files are a few KiB; anything far larger is not a key. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;
function readKeyFile(path: string): Promise<string> {
  return readTextFile(path, {
    maxBytes: MAX_KEY_FILE_BYTES,
    tooLarge: new CustodyError('KEY_INVALID', 'not a key: file is larger than 1 MiB', { file: path }),
  });
}
const pbkdf2Async = promisify(pbkdf2);

/** Builds a Signer around a private KeyObject whose public part is `publicKey`. */
export function signerFromKeyObject(privateKey: KeyObject, publicKey: PublicKey): Signer {
  const scheme: SigningScheme = publicKey.scheme;
  return {
    keyid: publicKey.keyid,
    publicKey,
    async sign(data: Uint8Array): Promise<Buffer> {
      switch (scheme) {
        case 'ed25519':
          return signAsync(null, data, privateKey);
        case 'ecdsa-sha2-nistp256':
          return signAsync('sha256', data, { key: privateKey, dsaEncoding: 'der' });
        case 'ecdsa-sha2-nistp384':
          return signAsync('sha384', data, { key: privateKey, dsaEncoding: 'der' });
        case 'rsassa-pss-sha256':
          // securesystemslib signs PSS with MGF1-SHA256 and salt length = digest length.
          return signAsync('sha256', data, {
            key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
          });
      }
    },
  };
}

function keyError(code: 'KEY_INVALID' | 'KEY_UNSUPPORTED' | 'KEY_PASSPHRASE' | 'KEY_PRIVATE_EXPECTED', message: string, file: string, cause?: unknown): never {
  throw new CustodyError(code, message, { file, cause });
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  const da = a.export({ format: 'der', type: 'spki' });
  const db = b.export({ format: 'der', type: 'spki' });
  return da.length === db.length && timingSafeEqual(da, db);
}

/**
 * Decrypts securesystemslib's key-file encryption (in-toto-keygen -p for ed25519/ecdsa):
 * hex(salt)@@@@iterations@@@@hex(hmac)@@@@hex(iv)@@@@hex(ciphertext), PBKDF2-HMAC-SHA256 → 32-byte
 * key, HMAC-SHA256 over the ciphertext with that key, AES-256-CTR.
 */
export async function decryptSslibKey(text: string, passphrase: string, file: string): Promise<unknown> {
  const [saltHex, iterText, hmacHex, ivHex, ctHex] = text.trim().split('@@@@');
  const iterations = Number(iterText);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 10_000_000) {
    keyError('KEY_INVALID', 'encrypted securesystemslib key with an implausible iteration count', file);
  }
  const salt = Buffer.from(saltHex, 'hex');
  const iv = Buffer.from(ivHex, 'hex');
  const ciphertext = Buffer.from(ctHex, 'hex');
  if (iv.length !== 16) keyError('KEY_INVALID', 'encrypted securesystemslib key with a bad IV', file);
  const key = await pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, iterations, 32, 'sha256');
  const expected = createHmac('sha256', key).update(ciphertext).digest();
  const stored = Buffer.from(hmacHex, 'hex');
  if (stored.length !== expected.length || !timingSafeEqual(stored, expected)) {
    keyError('KEY_PASSPHRASE', 'wrong passphrase (or corrupted encrypted key)', file);
  }
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  const plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  return parseJson(plain, { file, code: 'KEY_INVALID', what: 'decrypted key' });
}

/** A Signer from a securesystemslib private key dict (ed25519 hex seed, ecdsa/rsa PEM). */
function signerFromSslibPrivate(obj: unknown, file: string): Signer {
  const o = obj as { keytype?: unknown; keyval?: { private?: unknown; public?: unknown } } | null;
  const priv = o?.keyval?.private;
  if (typeof priv !== 'string' || priv === '') {
    keyError('KEY_PRIVATE_EXPECTED', 'this is a public key; signing needs the private key file', file);
  }
  const publicKey = publicKeyFromSslib(obj, file);
  let privateKey: KeyObject;
  try {
    if (publicKey.scheme === 'ed25519') {
      if (!/^[0-9a-fA-F]{64}$/.test(priv)) keyError('KEY_INVALID', 'ed25519 private key must be 64 hex characters', file);
      const x = Buffer.from(publicKey.sslib.keyval.public, 'hex').toString('base64url');
      privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(priv, 'hex').toString('base64url'), x }, format: 'jwk' });
    } else {
      privateKey = createPrivateKey({ key: priv, format: 'pem' });
    }
  } catch (e) {
    if (e instanceof CustodyError) throw e;
    keyError('KEY_INVALID', `cannot parse the private key: ${(e as Error).message}`, file, e);
  }
  // Node's JWK import does not check that d and x belong together; a mismatched pair would sign
  // with a key nobody can verify.
  if (!samePublicKey(createPublicKey(privateKey), publicKey.keyObject)) {
    keyError('KEY_INVALID', 'private and public parts of the key do not match', file);
  }
  return signerFromKeyObject(privateKey, publicKey);
}

const PEM_LABEL = /-----BEGIN ([A-Z0-9 ]+)-----/;

/** A Signer from a private PEM: PKCS#8 (encrypted or not), PKCS#1 RSA (in-toto-keygen, maybe encrypted), SEC1 EC. */
function signerFromPem(text: string, file: string, passphrase?: string): Signer {
  const label = PEM_LABEL.exec(text)![1];
  if (!label.endsWith('PRIVATE KEY')) {
    keyError('KEY_PRIVATE_EXPECTED', 'this is a public key; signing needs the private key file', file);
  }
  const encrypted = label === 'ENCRYPTED PRIVATE KEY' || /Proc-Type:\s*4,ENCRYPTED/.test(text);
  if (encrypted && !passphrase) {
    keyError('KEY_PASSPHRASE', 'the key is encrypted; give its passphrase (--passphrase-file)', file);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: 'pem', ...(encrypted ? { passphrase } : {}) });
  } catch (e) {
    if (encrypted) keyError('KEY_PASSPHRASE', 'wrong passphrase (or corrupted encrypted key)', file, e);
    keyError('KEY_INVALID', `not a valid ${label.toLowerCase()} PEM (${(e as Error).message})`, file, e);
  }
  const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }) as string;
  return signerFromKeyObject(privateKey, publicKeyFromPem(publicPem, { fileName: file }));
}

/**
 * Loads a signing key: PKCS#8 PEM (encrypted or not, as `custody keygen` writes), PKCS#1 RSA PEM
 * (in-toto-keygen, encrypted with -p), SEC1 EC PEM, or a securesystemslib JSON private key
 * (in-toto-keygen -t ed25519|ecdsa, encrypted with -p). The keyid is computed from the key
 * material; a JSON key file whose own `keyid` differs is refused (KEY_INVALID).
 */
export async function loadSigner(path: string, opts: { passphrase?: string } = {}): Promise<Signer> {
  const text = await readKeyFile(path);
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    return signerFromSslibPrivate(parseJson(trimmed, { file: path, code: 'KEY_INVALID', what: 'key file' }), path);
  }
  if (SSLIB_ENCRYPTED.test(trimmed)) {
    if (!opts.passphrase) keyError('KEY_PASSPHRASE', 'the key is encrypted; give its passphrase (--passphrase-file)', path);
    return signerFromSslibPrivate(await decryptSslibKey(trimmed, opts.passphrase, path), path);
  }
  if (!PEM_LABEL.test(text)) keyError('KEY_INVALID', 'not a key: expected PEM or securesystemslib JSON', path);
  return signerFromPem(text, path, opts.passphrase);
}

/** Loads a public key (or the public part of an unencrypted private key file). */
export async function loadPublicKey(path: string): Promise<PublicKey> {
  return parsePublicKeyText(await readKeyFile(path), path);
}

/**
 * Generates a key pair: PKCS#8 PEM private key (AES-256-CBC encrypted when a passphrase is
 * given) and SPKI PEM public key. RSA keys are 3072-bit, like in-toto-keygen's default.
 */
export function generateKeyPair(type: KeyType, opts: { passphrase?: string } = {}): KeyPair {
  const privateKeyEncoding = opts.passphrase
    ? { type: 'pkcs8' as const, format: 'pem' as const, cipher: 'aes-256-cbc', passphrase: opts.passphrase }
    : { type: 'pkcs8' as const, format: 'pem' as const };
  const publicKeyEncoding = { type: 'spki' as const, format: 'pem' as const };
  let pair: { privateKey: string; publicKey: string };
  switch (type) {
    case 'ed25519':
      pair = generateKeyPairSync('ed25519', { privateKeyEncoding, publicKeyEncoding });
      break;
    case 'ecdsa-p256':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding, publicKeyEncoding });
      break;
    case 'ecdsa-p384':
      pair = generateKeyPairSync('ec', { namedCurve: 'P-384', privateKeyEncoding, publicKeyEncoding });
      break;
    case 'rsa':
      pair = generateKeyPairSync('rsa', { modulusLength: 3072, privateKeyEncoding, publicKeyEncoding });
      break;
    default:
      throw new CustodyError('KEY_UNSUPPORTED', `unsupported key type ${JSON.stringify(type)} (use ${KEY_TYPES.join(', ')})`);
  }
  const keyid = publicKeyFromPem(pair.publicKey).keyid;
  return { privatePem: pair.privateKey, publicPem: pair.publicKey, keyid };
}

/**
 * Writes NAME (private, mode 0600) and NAME.pub (public, 0644), each via temp file + rename.
 * Refuses to replace existing files unless `overwrite`.
 */
export async function writeKeyPair(name: string, pair: KeyPair, opts: { overwrite?: boolean } = {}): Promise<{ privatePath: string; publicPath: string }> {
  const privatePath = name;
  const publicPath = `${name}.pub`;
  if (!opts.overwrite) {
    for (const p of [privatePath, publicPath]) {
      const exists = await access(p).then(() => true, () => false);
      if (exists) throw new CustodyError('FILE_UNWRITABLE', 'already exists (use --force to replace it)', { file: p });
    }
  }
  await writeFileAtomic(privatePath, pair.privatePem, 0o600);
  try {
    await writeFileAtomic(publicPath, pair.publicPem, 0o644);
  } catch (e) {
    // no half key pair: a private key nobody has the public half of is useless
    await unlink(privatePath).catch(() => undefined);
    throw e;
  }
  return { privatePath, publicPath };
}

/**
 * Reads a passphrase file: its content without one trailing newline (so `echo pw > f` works).
 * An empty passphrase is refused.
 */
export async function readPassphraseFile(path: string): Promise<string> {
  const text = (await readKeyFile(path)).replace(/\r?\n$/, '');
  if (text === '') throw new CustodyError('KEY_PASSPHRASE', 'passphrase file is empty', { file: path });
  return text;
}
