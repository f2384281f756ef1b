import type { ErrorCode } from '../errors.ts';
import type { PublicKey } from '../keys.ts';
import type { SignedFile } from '../envelope.ts';
import type { ArtifactMap } from '../model/link.ts';
import type { InspectionBody } from '../model/layout.ts';
import type { ArtifactRuleOutcome } from '../rules/engine.ts';

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

export interface VerifyInput {
  layout: SignedFile<unknown>;
  /** Every key given must have a valid signature on the layout. */
  layoutKeys: PublicKey[];
  now: Date;
  /** `{name}` substitution in rules, expected commands and inspection runs (only when given). */
  params?: Record<string, string>;
  links: LinkSource;
  runInspection?: InspectionRunner;
  /** Name of the layout file, for messages about it. */
  layoutFile?: string;
}

export type CheckName =
  | 'layout-signature' | 'layout-expiry' | 'links' | 'threshold' | 'sublayout' | 'threshold-agreement'
  | 'artifact-rules' | 'inspection' | 'inspection-rules' | 'predicate-rules';

/** One link file considered for a step. */
export interface SignerEntry {
  keyid: string;
  file: string;
  format: 'metablock' | 'dsse';
  /** 'layout' for a sublayout. */
  kind: 'link' | 'layout';
  valid: boolean;
  reason?: string;
}

export interface Check {
  check: CheckName;
  verdict: 'pass' | 'fail';
  /** Step or inspection the check is about. */
  step?: string;
  message: string;
  /** layout-signature: keyids checked. */
  keyids?: string[];
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
  /** sublayout: the nested verification. */
  keyid?: string;
  linkDir?: string;
  checks?: Check[];
}

export interface VerificationFailure {
  code: ErrorCode;
  check: CheckName;
  step?: string;
  message: string;
}

export interface VerificationReport {
  verdict: 'pass' | 'fail';
  failure: VerificationFailure | null;
  warnings: string[];
  checks: Check[];
}
