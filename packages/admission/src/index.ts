export { loadConfig, type LoadedConfig, type LoadedPolicy, type PolicyMode, type NoMatch } from './config.ts';
export { parseImageReference, parseOciUri, globMatch, type ImageReference } from './reference.ts';
export { parseReview, findArtifacts, envelope, type ReviewRequest, type AdmissionResponse, type FoundArtifact, type CustomResourcePath } from './review.ts';
export { AdmissionController, type Verdict, type AdmissionDeps } from './decide.ts';
export { TtlCache, SingleFlight } from './cache.ts';
export { AdmissionMetrics } from './metrics.ts';
export { ociRegistryAccess, type RegistryAccess, type PulledFile } from './registry.ts';
export { engineVerify, type VerifyFunction, type VerifyRequest, type VerifyResult } from './verify.ts';
export { startAdmissionServer, type ServeOptions, type AdmissionServer } from './server.ts';
