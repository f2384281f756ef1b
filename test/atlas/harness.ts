// The demo pipeline as a test fixture: run the clean pipeline ONCE into a template folder,
// then give every attack its own copy (a few MB) to tamper with.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateAttestationSteps, normalizeLink, parseSignedFile, parseStatement, publicKeyFromSslib, verifySignedFile } from '../../packages/core/src/index.ts';
import type { AttestationStepPolicy, AttestationStepsReport, LinkBody, VerifiedClaim } from '../../packages/core/src/index.ts';
import { verifyAttestationBundle } from '../../packages/sign/src/index.ts';
import { custody, demoEnv, runDemoPipeline, setupDemo, verifyDemo } from '../../scripts/demo.mjs';
import type { DemoHub, DemoParams, ExecResult, VerifyReport } from '../../scripts/demo.mjs';

export { custody, demoEnv, runDemoPipeline, verifyDemo };
export type { DemoParams, VerifyReport };

export interface PipelineJson {
  steps: { name: string; status: 'ran' | 'kept' | 'failed' | 'pending'; reason?: string; keyid: string }[];
  failedStep?: string;
  failure?: string;
  verify?: { exitCode: number; report?: VerifyReport; error?: string };
}

export interface Template {
  /** Parent folder of the template and of every copy; remove it when done. */
  root: string;
  dir: string;
  hub: DemoHub;
  params: DemoParams;
  /** The clean run's `pipeline run --json` result. */
  clean: PipelineJson;
}

/** With --json, stdout is the pipeline's JSON result alone (step commands' output goes to stderr). */
export function pipelineJson(r: ExecResult): PipelineJson {
  try {
    return JSON.parse(r.stdout) as PipelineJson;
  } catch {
    throw new Error(`no JSON result from pipeline run (exit ${r.code}): ${r.stderr.slice(-2000)}`);
  }
}

/** Sets up the demo and runs the clean pipeline in it. */
export async function makeTemplate(opts: { hubLicense?: string } = {}): Promise<Template> {
  const root = await mkdtemp(join(tmpdir(), 'custody-atlas-'));
  const dir = join(root, 'template');
  const { hub, params } = await setupDemo(dir, opts);
  const r = await runDemoPipeline(dir, params, ['--json'], { cwd: dir, env: demoEnv() });
  const clean = pipelineJson(r);
  // Every step must have run; whether the final verify passed is the clean test's to assert.
  assert.deepEqual(clean.steps.map((s) => s.status), clean.steps.map(() => 'ran'), `clean pipeline failed: ${r.stderr.slice(-3000)}`);
  return { root, dir, hub, params, clean };
}

let copies = 0;
/** A private copy of the template's demo folder (keys, layout, config, work/, attestations/). */
export async function copyTemplate(t: Template, name: string): Promise<string> {
  const dir = join(t.root, `${name}-${++copies}`);
  await cp(t.dir, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

export async function removeTemplate(t: Template | undefined): Promise<void> {
  if (t) await rm(t.root, { recursive: true, force: true });
}

/** The attestation files of one step (link and plugin statements). */
export async function attestationsOf(dir: string, step: string): Promise<string[]> {
  return (await readdir(join(dir, 'attestations'))).filter((n) => n.startsWith(`${step}.`));
}

/** Removes what steps produced in work/ and their attestations, so they can be recorded anew. */
export async function resetSteps(dir: string, steps: string[], folders: string[]): Promise<void> {
  for (const f of folders) await rm(join(dir, 'work', f), { recursive: true, force: true });
  for (const s of steps) for (const n of await attestationsOf(dir, s)) await rm(join(dir, 'attestations', n));
}

/**
 * `custody run` as a person at the keyboard would, in the demo's work/ folder, with the
 * layout step's plugins (as the pipeline runs them) but a command of their choosing.
 */
export async function runStepByHand(dir: string, step: string, key: string, command: string[]): Promise<ExecResult> {
  const config = join(dir, 'by-hand.config.json');
  await writeFile(config, '{}\n');
  const layout = parseSignedFile(await readFile(join(dir, 'root.layout'), 'utf8'), 'root.layout').body as { steps: { name: string; plugins?: unknown }[] };
  const layoutStep = JSON.stringify({ plugins: layout.steps.find((s) => s.name === step)?.plugins ?? [] });
  return custody([
    'run', '--step', step, '--key', key, '--materials', '.', '--products', '.', '--out-dir', '../attestations', '--config', config,
    '--layout-step', layoutStep, '--', ...command,
  ], { cwd: join(dir, 'work'), env: demoEnv() });
}

/** Edits a text file in place. */
export async function editFile(path: string, edit: (text: string) => string): Promise<void> {
  const before = await readFile(path, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, `edit of ${path} changed nothing`);
  await writeFile(path, after);
}

/** Asserts a failed verification: code, check, step and a message fragment. */
export function assertCaught(report: VerifyReport | undefined, want: { code: string; check: string; step: string; message: RegExp }, context = ''): void {
  assert.ok(report, `no verify report ${context}`);
  assert.equal(report.verdict, 'fail', `the attack was not caught: verify passed ${context}; warnings: ${JSON.stringify(report.warnings)}`);
  const f = report.failure!;
  assert.deepEqual({ code: f.code, check: f.check, step: f.step }, { code: want.code, check: want.check, step: want.step }, `caught for another reason: ${JSON.stringify(f)}`);
  assert.match(f.message, want.message);
}

/**
 * What the layout's expectedPredicates say about a demo folder's attestations, evaluated by
 * core's evaluateAttestationSteps directly (signatures checked against the layout's keys).
 * The attack tests use it to show the evidence and rules already catch an attack, apart from
 * whether `custody verify` runs them.
 */
export async function evaluatePredicates(dir: string, params: Record<string, string>): Promise<AttestationStepsReport> {
  const layout = parseSignedFile(await readFile(join(dir, 'root.layout'), 'utf8'), 'root.layout');
  const body = layout.body as { keys: Record<string, unknown>; steps: AttestationStepPolicy[] };
  const claims: Record<string, VerifiedClaim[]> = {};
  for (const name of await readdir(join(dir, 'attestations'))) {
    // plugin Statements: Sigstore bundles (the default) or DSSE `.att.json` (--format dsse); not the link
    const bundle = name.endsWith('.sigstore.json') && !name.endsWith('.link.sigstore.json');
    if (!bundle && !name.endsWith('.att.json')) continue;
    const [step, keyid8] = name.split('.');
    const keyid = Object.keys(body.keys).find((k) => k.startsWith(keyid8));
    if (!keyid) continue;
    const key = publicKeyFromSslib(body.keys[keyid]);
    const text = await readFile(join(dir, 'attestations', name), 'utf8');
    let statement;
    if (bundle) {
      try {
        statement = verifyAttestationBundle(text, [key], { file: name }).statement;
      } catch {
        continue;
      }
    } else {
      const signed = parseSignedFile(text, name);
      if (signed.format !== 'dsse' || !verifySignedFile(signed, key)) continue;
      statement = parseStatement(signed.payloadBytes);
    }
    if (statement) (claims[step] ??= []).push({ step, keyid, statement, source: name });
  }
  // the steps' signed links: run-level evidence (the trace) is compared with its own step's link
  const links: Record<string, { keyid: string; link: LinkBody }[]> = {};
  for (const name of await readdir(join(dir, 'attestations'))) {
    if (!name.endsWith('.link')) continue;
    const [step, keyid8] = name.split('.');
    const keyid = Object.keys(body.keys).find((k) => k.startsWith(keyid8));
    if (!keyid) continue;
    const signed = parseSignedFile(await readFile(join(dir, 'attestations', name), 'utf8'), name);
    if (!verifySignedFile(signed, publicKeyFromSslib(body.keys[keyid]))) continue;
    (links[step] ??= []).push({ keyid, link: normalizeLink(signed.body, name) });
  }
  return evaluateAttestationSteps(body, claims, { params, now: new Date(), links });
}

/** The layout's predicate rules, evaluated directly, fail at `step` with a message like `message`. */
export async function assertRulesCatch(dir: string, params: Record<string, string>, want: { step: string; message: RegExp }): Promise<void> {
  const r = await evaluatePredicates(dir, params);
  assert.ok(r.failure, 'the layout\'s predicate rules do not catch this attack');
  assert.deepEqual({ code: r.failure.code, check: r.failure.check, step: r.failure.step }, { code: 'PREDICATE_RULE', check: 'predicate-rules', step: want.step }, r.failure.message);
  assert.match(r.failure.message, want.message);
}
