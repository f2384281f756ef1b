export * from './rules.ts';
export { isCredentialPath, learnTraceProfile, parseTraceProfile, renderTraceProfile, traceHelpers, tracePathMatches, CREDENTIAL_PATHS, TRACE_FUNCTIONS } from './trace.ts';
export type { TraceProfile } from './trace.ts';
