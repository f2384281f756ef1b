/**
 * command-run: what the step's command did — argv, exit code, start/end time, duration and
 * sha256 digests of its stdout and stderr (captured even when the link does not record them).
 * Steps without a command (--no-command, record start/stop) emit nothing.
 */
import { createHash } from 'node:crypto';
import { definePlugin, type StepExecution } from '@custody/engine';
import schema from '../schemas/command-run.schema.json' with { type: 'json' };

export const COMMAND_RUN_PREDICATE_TYPE = 'https://custody.dev/attestation/command-run/v0.1';

function streamDigest(s: string): { sha256: string; bytes: number } {
  const b = Buffer.from(s, 'utf8');
  return { sha256: createHash('sha256').update(b).digest('hex'), bytes: b.length };
}

export function commandRunEvidence(argv: readonly string[], e: StepExecution): Record<string, unknown> {
  return {
    argv: [...argv],
    exitCode: e.exitCode,
    startedAt: e.startedAt.toISOString(),
    finishedAt: e.finishedAt.toISOString(),
    durationMs: e.finishedAt.getTime() - e.startedAt.getTime(),
    stdout: streamDigest(e.stdout),
    stderr: streamDigest(e.stderr),
  };
}

export default definePlugin({
  name: 'command-run',
  apiVersion: 1,
  description: "The step command's argv, exit code, timing and stdout/stderr digests",
  predicateTypes: [COMMAND_RUN_PREDICATE_TYPE],
  schemas: { [COMMAND_RUN_PREDICATE_TYPE]: schema },
  apply(hooks) {
    hooks.postProduct.tapPromise('command-run', async (ctx) => {
      if (!ctx.execution) return;
      ctx.emit({ predicateType: COMMAND_RUN_PREDICATE_TYPE, predicate: commandRunEvidence(ctx.command, ctx.execution) });
    });
  },
});
