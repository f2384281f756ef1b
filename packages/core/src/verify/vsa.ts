/**
 * SLSA Verification Summary Attestation v1 (https://slsa.dev/spec/v1.0/verification_summary)
 * of one `custody verify`: an in-toto Statement v1 whose predicate says who verified what, when,
 * against which policy (the layout file), from which attestations (the link and attestation files
 * the verification read), and with which result. Pure: the caller reads the files and the clock
 * and signs the Statement.
 */
import { createHash } from 'node:crypto';
import { CustodyError } from '../errors.ts';
import { parseSignedFile } from '../envelope.ts';
import { normalizeLink } from '../model/link.ts';
import { artifactMapToDescriptors, parseStatement, STATEMENT_TYPE_V1, statementArtifacts } from '../statement.ts';
import type { ResourceDescriptor, Statement } from '../statement.ts';
import type { VerificationReport } from './types.ts';

export const VSA_PREDICATE_TYPE = 'https://slsa.dev/verification_summary/v1';
/** What `verifier.id` says unless the verifier names itself (`--vsa-verifier-id`). */
export const DEFAULT_VSA_VERIFIER_ID = 'https://custody.dev/verifier';
export const VSA_SLSA_VERSION = '1.0';

export interface VsaPredicate {
  verifier: { id: string };
  timeVerified: string;
  resourceUri: string;
  policy: { uri: string; digest: Record<string, string> };
  inputAttestations: { uri: string; digest: Record<string, string> }[];
  verificationResult: 'PASSED' | 'FAILED';
  verifiedLevels: string[];
  dependencyLevels: Record<string, number>;
  slsaVersion: string;
}

/** A file the verification read, as the caller read it. */
export interface VsaInputFile {
  /** How the verification named it (link files: relative to the link dir, as `SignerEntry.file`). */
  name: string;
  /** Where a consumer finds it (a path relative to the verifier's folder, or a URL). */
  uri: string;
  /** The step it belongs to, when known (top-level `<step>.<keyid8>.link`, attestation files). */
  step?: string;
  bytes: Uint8Array;
}

export interface VsaOptions {
  report: VerificationReport;
  /** The verification's `now`. */
  now: Date;
  verifierId?: string;
  /** The layout file: its URI and its bytes (policy.digest is their SHA-256). */
  policy: { uri: string; bytes: Uint8Array };
  inputAttestations: VsaInputFile[];
  subject: ResourceDescriptor[];
  /** Default: the subject's name (one subject) or digest URI `sha256:HEX`. */
  resourceUri?: string;
  /**
   * On PASSED (FAILED always gives ["FAILED"]). Default none: an in-toto layout check proves
   * what the layout demands, not a SLSA Build level; custom values must not start with `SLSA_`.
   */
  verifiedLevels?: string[];
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A local path as a URI reference (forward slashes, percent-encoded); URLs stay as they are. */
export function pathToUriReference(path: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]+:\/\//.test(path)) return path;
  return encodeURI(path.replace(/\\/g, '/'));
}

function resourceUriOf(subject: ResourceDescriptor[]): string {
  const first = subject[0];
  if (first.uri) return first.uri;
  if (subject.length === 1 && first.name) return pathToUriReference(first.name);
  const [alg, hex] = Object.entries(first.digest ?? {}).sort(([a], [b]) => (a === 'sha256' ? -1 : b === 'sha256' ? 1 : a.localeCompare(b)))[0] ?? [];
  if (alg === undefined) throw new CustodyError('USAGE', 'VSA subject has no digest');
  return `${alg}:${hex}`;
}

export function buildVsaStatement(opts: VsaOptions): Statement<VsaPredicate> {
  if (opts.subject.length === 0) throw new CustodyError('USAGE', 'a VSA needs at least one subject (--vsa-subject)');
  for (const s of opts.subject) {
    if (!s.digest || Object.keys(s.digest).length === 0) throw new CustodyError('USAGE', `VSA subject ${s.name ?? '(unnamed)'} has no digest`);
  }
  if (Number.isNaN(opts.now.getTime())) throw new CustodyError('USAGE', 'VSA timeVerified is not a valid time');
  const passed = opts.report.verdict === 'pass';
  const levels = passed ? (opts.verifiedLevels ?? []) : ['FAILED'];
  if (passed && levels.some((l) => l.startsWith('SLSA_') && !/^SLSA_BUILD_LEVEL_[0-3]$/.test(l))) {
    throw new CustodyError('USAGE', 'custom VSA levels must not start with SLSA_');
  }
  const seen = new Set<string>();
  const inputs = [];
  for (const f of opts.inputAttestations) {
    if (seen.has(f.uri)) continue; // a file read twice (link dir and store) is one input
    seen.add(f.uri);
    inputs.push({ uri: f.uri, digest: { sha256: sha256Hex(f.bytes) } });
  }
  inputs.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  return {
    _type: STATEMENT_TYPE_V1,
    subject: opts.subject.map((s) => ({ ...s, digest: { ...s.digest } })),
    predicateType: VSA_PREDICATE_TYPE,
    predicate: {
      verifier: { id: opts.verifierId ?? DEFAULT_VSA_VERIFIER_ID },
      timeVerified: opts.now.toISOString(),
      resourceUri: opts.resourceUri ?? resourceUriOf(opts.subject),
      policy: { uri: opts.policy.uri, digest: { sha256: sha256Hex(opts.policy.bytes) } },
      inputAttestations: inputs,
      verificationResult: passed ? 'PASSED' : 'FAILED',
      verifiedLevels: levels,
      // custody does not verify dependencies' SLSA levels: none at any level
      dependencyLevels: {},
      slsaVersion: VSA_SLSA_VERSION,
    },
  };
}

/**
 * The products an attestation file names: a link (metablock or DSSE), or a Statement (DSSE, or
 * DSSE in a Sigstore bundle) with link or SLSA provenance predicate; undefined for other files.
 */
function productsOf(file: VsaInputFile): { products: ResourceDescriptor[]; link: boolean } | undefined {
  const text = Buffer.from(file.bytes).toString('utf8');
  const ofStatement = (payload: Uint8Array | string) => {
    const a = statementArtifacts(parseStatement(payload, { file: file.name, lenient: true }));
    return a.source === 'subject' ? undefined : { products: a.products, link: a.source === 'link' };
  };
  try {
    let json: unknown;
    try {
      json = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch {
      return undefined;
    }
    const env = (json as { dsseEnvelope?: { payload?: unknown } } | null)?.dsseEnvelope;
    if (env && typeof env.payload === 'string') return ofStatement(Buffer.from(env.payload, 'base64'));
    const signed = parseSignedFile(text, file.name);
    const body = signed.body as { _type?: unknown } | null;
    if (body && body._type === 'link') return { products: artifactMapToDescriptors(normalizeLink(body, file.name).products), link: true };
    return signed.format === 'dsse' ? ofStatement(signed.payloadBytes) : undefined;
  } catch (e) {
    if (e instanceof CustodyError) return undefined; // a malformed file names no products
    throw e;
  }
}

/**
 * The default VSA subject: the products of the layout's last step — from a link the
 * verification counted (validly signed) when there is one, else from the step's other links,
 * else from its SLSA provenance (attestation-verifier layouts). Undefined when none names a
 * product.
 */
export function lastStepSubject(lastStep: string, report: VerificationReport, inputs: VsaInputFile[]): ResourceDescriptor[] | undefined {
  const counted = new Set<string>();
  for (const c of report.checks) {
    if (c.check === 'threshold' && c.step === lastStep) for (const s of c.signers ?? []) if (s.valid) counted.add(s.file);
  }
  const ofStep = inputs.filter((f) => f.step === lastStep);
  const candidates = [...ofStep.filter((f) => counted.has(f.name)), ...ofStep.filter((f) => !counted.has(f.name))]
    .flatMap((f) => {
      const p = productsOf(f);
      return p && p.products.length ? [p] : [];
    });
  return (candidates.find((c) => c.link) ?? candidates[0])?.products.map((d) => ({ ...d }));
}

/** `--vsa-subject sha256:HEX` as a subject (FILE arguments the caller hashes itself). */
export function digestSubject(arg: string): ResourceDescriptor | undefined {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(arg);
  return m ? { digest: { sha256: m[1].toLowerCase() } } : undefined;
}
