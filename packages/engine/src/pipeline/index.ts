export { planPipeline } from './order.ts';
export type { PlannedStep } from './order.ts';
export { runPipeline, pipelineExcludes } from './run.ts';
export type { PipelineOptions, PipelineResult, PipelineStepResult, PipelineEvent, PipelineVerifyRequest, PipelineVerifyOutcome } from './run.ts';
