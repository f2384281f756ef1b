import type { ErrorCode } from '../errors.ts';
import type { PublicKey } from '../keys.ts';
import type { SignedFile } from '../envelope.ts';
import type { ArtifactMap } from '../model/link.ts';
import type { InspectionBody } from '../model/layout.ts';
import type { ArtifactRuleOutcome } from '../rules/engine.ts';
import type { IdentityPolicy, KeylessIdentity } from '../identity.ts';
import type { VerifiedClaim } from '../attestations/artifact-rules.ts';
import type { ExpectedPredicateEntry } from '../attestations/evaluate.ts';
import type { ArtifactInHand, ArtifactProof } from './in-hand.ts';

/** Where link files come from; paths are relative to the link dir (`clone.1a2b3c4d.link`, `package.1a2b3c4d/tar.5e6f7a8b.link`). */
export interface LinkSource {
  /** The file's text, or undefined when it does not exist. */
  read(relPath: string): Promise<string | undefined>;
}

export interface InspectionResult {
  exitCode: number;
  materials: ArtifactMap;
  products: ArtifactMap;
  stdout: string;
  stderr: string;
}

/** Runs an inspection's `run` command and records `.` before and after (the caller's I/O). */
export type InspectionRunner = (inspection: InspectionBody) => Promise<InspectionResult>;

/** The Sigstore trust root a layout names for its keyless functionaries. */
export interface TrustedRootRef {
  /** A trusted_root.json, relative to the layout file. */
  path?: string;
  /** Its SHA-256 (hex): the layout's signature covers the trust root through it. */
  sha256?: string;
  /** The trusted root document itself, inline in the layout. */
  inline?: Record<string, unknown>;
}

/** Who may sign attestations of one step: the keys and identities the verified layout lists. */
export interface AttestationStepRequest {
  name: string;
  keys: PublicKey[];
  identities: IdentityPolicy[];
}

export interface AttestationRequest {
  steps: AttestationStepRequest[];
  trustedRoot?: TrustedRootRef;
}

/** An attestation file that did not verify (or could not be read); it contributes nothing. */
export interface AttestationRejection {
  file: string;
  step?: string;
  code: string;
  reason: string;
}

export interface CollectedAttestations {
  /** Verified claims per step (signature, certificate, identity checked by the collector). */
  claimsByStep: Record<string, VerifiedClaim[]>;
  rejected: AttestationRejection[];
}

/**
 * The caller's I/O: finds the attestations (Sigstore bundles, DSSE Statements) of the layout's
 * steps and verifies each against the step's keys and identities. Called once, after the
 * layout's signature and expiry were checked.
 */
export type AttestationCollector = (request: AttestationRequest) => Promise<CollectedAttestations>;

/**
 * The keyless signature of a layout (a Sigstore bundle), as the caller verified it: certificate
 * chain to the trusted root given by the verifier (never the layout's own `trustedRoot`), SCT,
 * tlog entry, signing time within the certificate's validity, signature over the payload bytes
 * of `VerifyInput.layout`. Core only matches the identity against every requested policy.
 */
export interface LayoutKeylessVerification {
  /** The identities the verifier requires; every one must have signed the layout. */
  policies: IdentityPolicy[];
  /** The certificate identity whose signature verified; absent when it did not. */
  signer?: KeylessIdentity;
  /** Why the keyless signature did not verify (absent layout bundle, bad certificate, tlog, signature). */
  failure?: { code: string; reason: string };
}

export interface VerifyInput {
  layout: SignedFile<unknown>;
  /** Every key given must have a valid signature on the layout. */
  layoutKeys: PublicKey[];
  /** Keyless layout owners (identities), with the caller's verification of the layout's bundle. */
  layoutIdentities?: LayoutKeylessVerification;
  now: Date;
  /** `{name}` substitution in rules, expected commands and inspection runs (only when given). */
  params?: Record<string, string>;
  links: LinkSource;
  runInspection?: InspectionRunner;
  /**
   * Do not run the layout's inspections (an admission webhook has no working folder): each is
   * reported with verdict 'skipped', never 'pass', as are the inspection rules that need it,
   * and the report lists them in `inspectionsSkipped`.
   */
  skipInspections?: boolean;
  /**
   * Attestations beside the links: link Statements (counted as the step's links, also by
   * keyless functionaries) and the claims expectedPredicates rules read (step 10).
   */
  attestations?: AttestationCollector;
  /** A link whose command differs from expected_command fails (COMMAND_MISMATCH) instead of warning. */
  strictCommand?: boolean;
  /** Name of the layout file, for messages about it. */
  layoutFile?: string;
  /** Artifacts on disk that must be exactly what `artifactStep` produced (`verify --artifact`). */
  artifacts?: ArtifactInHand[];
  /** `sha256` hex digests that must be artifacts of `artifactStep` (`verify --subject`). */
  subjects?: string[];
  /** The step artifacts and subjects are checked against (default: the layout's last step). */
  artifactStep?: string;
}

/** What a passing verification proved about the artifacts in hand (the report's last word). */
export interface ProvenArtifacts {
  step: string;
  artifacts: ArtifactProof[];
  subjects: { digest: { sha256: string }; recordedAs: string }[];
  /** Filled by the caller that read the files: the layout's SHA-256 and the verifier's version. */
  layout?: { file: string; digest: { sha256: string } };
  custodyVersion?: string;
}

export type CheckName =
  | 'layout-signature' | 'layout-expiry' | 'links' | 'threshold' | 'sublayout' | 'threshold-agreement'
  | 'artifact-rules' | 'inspection' | 'inspection-rules' | 'predicate-rules' | 'command-alignment' | 'artifact-in-hand';

/** One link file considered for a step. */
export interface SignerEntry {
  keyid: string;
  file: string;
  /** 'sigstore': a Sigstore bundle verified by the attestation collector. */
  format: 'metablock' | 'dsse' | 'sigstore';
  /** A keyless signer's identity (`subject (issuer …)`). */
  identity?: string;
  /** 'layout' for a sublayout. */
  kind: 'link' | 'layout';
  valid: boolean;
  reason?: string;
}

export interface Check {
  check: CheckName;
  /** 'skipped': not evaluated (inspections the caller chose not to run); never counts as a pass. */
  verdict: 'pass' | 'fail' | 'skipped';
  /** Step or inspection the check is about. */
  step?: string;
  message: string;
  /** layout-signature: keyids checked. */
  keyids?: string[];
  /** layout-signature: keyless owner identities required (`subject (issuer …)`, `/pattern/ (issuer …)`). */
  identities?: string[];
  /** layout-expiry */
  expires?: string;
  /** links / threshold */
  threshold?: number;
  files?: string[];
  signers?: SignerEntry[];
  counted?: number;
  /** artifact-rules / inspection-rules */
  side?: 'materials' | 'products';
  rules?: ArtifactRuleOutcome[];
  unconsumed?: string[];
  /** inspection */
  command?: string[];
  exitCode?: number;
  /** predicate-rules: every expected predicate with its claims, rules and verdicts. */
  predicates?: ExpectedPredicateEntry[];
  /** links / threshold / predicate-rules: attestation files of the step that did not verify. */
  rejected?: AttestationRejection[];
  /** sublayout: the nested verification. */
  keyid?: string;
  linkDir?: string;
  checks?: Check[];
}

export interface VerificationFailure {
  code: ErrorCode;
  check: CheckName;
  step?: string;
  /** The reference's words. */
  message: string;
  /** The same failure in the user's terms: which file, which step produced it, the digests, what to do. */
  hint?: string;
}

export interface VerificationReport {
  verdict: 'pass' | 'fail';
  failure: VerificationFailure | null;
  warnings: string[];
  checks: Check[];
  /** attestation-verifier layouts: false when the layout carries no signature at all. */
  layoutSigned?: boolean;
  /** What was proven about which artifact (with --artifact / --subject, or the layout and version alone). */
  proven?: ProvenArtifacts;
  /** Inspections not run (VerifyInput.skipInspections): the verdict does not cover them. */
  inspectionsSkipped?: string[];
  /** 'attestation-verifier' when the layout was read in that format. */
  layoutFormat?: 'in-toto' | 'attestation-verifier';
}
