/**
 * One error class for the whole product, with a typed `code`.
 *
 * `kind` decides the process exit code at the CLI edge, following in-toto-verify's
 * convention: 'input' (bad usage, unreadable or malformed files) → 2,
 * 'verification' (the evidence does not prove what the layout demands) → 1.
 */
export type ErrorKind = 'input' | 'verification';

export type ErrorCode =
  // input / usage
  | 'USAGE'
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
  | 'FILE_UNWRITABLE'
  | 'MALFORMED_JSON'
  | 'MALFORMED_YAML'
  | 'SCHEMA_INVALID'
  | 'KEY_INVALID'
  | 'KEY_UNSUPPORTED'
  | 'KEY_PASSPHRASE'
  | 'KEY_PRIVATE_EXPECTED'
  | 'COMMAND_NOT_FOUND'
  | 'LSTRIP_CONFLICT'
  | 'RECORD_NOT_STARTED'
  | 'CONFIG_INVALID'
  | 'PLUGIN_NOT_FOUND'
  | 'PLUGIN_API_VERSION'
  | 'PLUGIN_FAILED'
  | 'PREDICATE_INVALID'
  | 'RULE_SYNTAX'
  // `layout sign` refuses a layout `layout lint` reports errors in (unless --force)
  | 'LAYOUT_LINT'
  | 'ENVELOPE_MALFORMED'
  | 'BUNDLE_MALFORMED'
  | 'UNKNOWN_STEP'
  | 'CANONICAL_JSON'
  | 'NETWORK'
  | 'IDENTITY_TOKEN_INVALID'
  | 'TRUSTED_ROOT_INVALID'
  | 'SAFETENSORS_INVALID'
  | 'LFS_POINTER_INVALID'
  | 'MODEL_CARD_INVALID'
  | 'MODEL_FETCH_FAILED'
  | 'DATASET_INVALID'
  | 'PREDICTIONS_INVALID'
  | 'BOM_INVALID'
  | 'MODEL_SIGNATURE_MALFORMED'
  | 'OCI_LAYOUT_INVALID'
  | 'IMAGE_BUILD_FAILED'
  | 'REGISTRY_ERROR'
  // an image layer entry that names an absolute path or climbs out with '..'
  | 'IMAGE_LAYER_UNSAFE'
  // a vulnerability scanner report, OSV export or VEX document that cannot be read as its format
  | 'SCAN_REPORT_INVALID'
  // admission webhook (custody admission serve): a review or object it cannot read, an image
  // reference it cannot parse, a verification that did not finish before its deadline
  | 'ADMISSION_REVIEW_INVALID'
  | 'IMAGE_REFERENCE_INVALID'
  | 'DEADLINE_EXCEEDED'
  // a registry (or its token server) refused the credentials, or there were none
  | 'REGISTRY_AUTH'
  // a pipeline step's command or plugins failed (`custody pipeline run` exits 1)
  | 'STEP_FAILED'
  // verification
  | 'SIGNATURE_INVALID'
  | 'LAYOUT_SIGNATURE'
  | 'LAYOUT_EXPIRED'
  | 'LINK_NOT_FOUND'
  | 'THRESHOLD'
  | 'ARTIFACT_RULE'
  | 'LINKS_DISAGREE'
  | 'SUBLAYOUT'
  | 'INSPECTION_FAILED'
  | 'PREDICATE_RULE'
  | 'PAYLOAD_TYPE'
  | 'STATEMENT_INVALID'
  | 'KEYID_MISMATCH'
  | 'IDENTITY_MISMATCH'
  | 'CERTIFICATE_INVALID'
  | 'TLOG_INVALID'
  | 'DIGEST_MISMATCH'
  | 'MODEL_SIGNATURE_INVALID'
  | 'MODEL_INTEGRITY'
  // a step's link ran another command than expected_command (verify --strict-command)
  | 'COMMAND_MISMATCH'
  // a step's link is validly signed by a key of the layout that is not one of the step's functionaries
  | 'UNAUTHORIZED_SIGNER'
  // admission: no policy matches an image (noMatch: deny), or a layout's inspections must run
  // (inspections: require) and a webhook cannot run them
  | 'NO_MATCHING_POLICY'
  | 'INSPECTIONS_NOT_RUN'
  // admission: the verified evidence is about another artifact than the image being admitted
  | 'SUBJECT_MISMATCH'
  // evidence binding: a Statement that names no step, another step, another run (link digest),
  // or subjects the step's link did not record
  | 'EVIDENCE_UNBOUND'
  | 'EVIDENCE_WRONG_STEP'
  | 'EVIDENCE_OTHER_RUN'
  | 'EVIDENCE_SUBJECT_MISMATCH'
  // verify --artifact: the file, folder or OCI image layout on disk is not what the step produced
  | 'ARTIFACT_MISMATCH'
  | 'VERIFICATION_FAILED';

const VERIFICATION_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'SIGNATURE_INVALID', 'LAYOUT_SIGNATURE', 'LAYOUT_EXPIRED', 'LINK_NOT_FOUND', 'THRESHOLD',
  'ARTIFACT_RULE', 'LINKS_DISAGREE', 'SUBLAYOUT', 'INSPECTION_FAILED', 'PREDICATE_RULE',
  'PAYLOAD_TYPE', 'STATEMENT_INVALID', 'KEYID_MISMATCH', 'IDENTITY_MISMATCH',
  'CERTIFICATE_INVALID', 'TLOG_INVALID', 'DIGEST_MISMATCH', 'VERIFICATION_FAILED',
  'MODEL_SIGNATURE_INVALID', 'MODEL_INTEGRITY', 'COMMAND_MISMATCH', 'UNAUTHORIZED_SIGNER',
  'NO_MATCHING_POLICY', 'INSPECTIONS_NOT_RUN', 'SUBJECT_MISMATCH',
  'EVIDENCE_UNBOUND', 'EVIDENCE_WRONG_STEP', 'EVIDENCE_OTHER_RUN', 'EVIDENCE_SUBJECT_MISMATCH', 'ARTIFACT_MISMATCH',
]);

export class CustodyError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** The file the problem is about, when there is one; the CLI names it first. */
  readonly file?: string;

  constructor(code: ErrorCode, message: string, options: { file?: string; cause?: unknown; kind?: ErrorKind } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CustodyError';
    this.code = code;
    this.kind = options.kind ?? (VERIFICATION_CODES.has(code) ? 'verification' : 'input');
    this.file = options.file;
  }

  /** Exit code in in-toto-verify's convention. */
  get exitCode(): 1 | 2 {
    return this.kind === 'verification' ? 1 : 2;
  }
}

export function isCustodyError(e: unknown): e is CustodyError {
  return e instanceof CustodyError;
}
