export * from './types.ts';
export { verifySupplyChain, substituteLayoutParameters, substituteParameter, sublayoutLinkDir } from './verifier.ts';
export { renderVerificationTree, renderVerdictLine } from './render.ts';
export type { TreeOptions } from './render.ts';
export { isSigstoreBundleDocument, signedFileFromBundle } from './keyless-layout.ts';
export * from './vsa.ts';
export { linkDigest, bindingAnnotations, bindSubjects, bindingProblem, STEP_ANNOTATION, LINK_ANNOTATION } from './binding.ts';
export { checkArtifactInHand, checkSubjectInHand, folderDigest } from './in-hand.ts';
export type { ArtifactInHand, ArtifactProof } from './in-hand.ts';
