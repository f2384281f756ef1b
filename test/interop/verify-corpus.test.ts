// custody verify must reach in-toto-verify's verdict, for the same reason, on every corpus case.
// The corpus (keys, links, layouts, expected.json) is generated at test time by
// make_corpus.py with Debian's in-toto 1.3.1; nothing generated is committed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { custody } from '../helpers/cli.ts';
import {
  describeRun, freshCopy, generateCorpus, limited, listCorpusCases, readExpected, type ExpectedVerdict,
} from '../helpers/interop.ts';

interface VerifyReport {
  verdict: 'pass' | 'fail';
  failure: null | { code: string; check: string; step?: string; message: string };
  warnings: string[];
  checks: unknown[];
}

const cases = listCorpusCases();

/** Arguments naming the layout keys the reference was given (same files, same order). */
function layoutKeyArgs(expected: ExpectedVerdict, originalVerifyDir: string): string[] {
  return expected.layoutKeys.flatMap((k) => {
    // alice.pub sits inside the (copied) verify dir; others are next to the original one.
    return ['--layout-key', k.includes('/') ? resolve(originalVerifyDir, k) : k];
  });
}

function checkFailure(expected: ExpectedVerdict, report: VerifyReport, context: string): void {
  const failure = report.failure;
  assert.ok(failure, `verdict fail needs a failure entry\n${context}`);
  assert.equal(failure.code, expected.expectedCode,
    `reference raised ${expected.errorClass}: ${expected.message}\n${context}`);
  // A failure inside a sublayout may be reported by the sublayout check.
  const checks = [expected.expectedCheck, ...(expected.case.startsWith('sublayout-') ? ['sublayout'] : [])];
  assert.ok(checks.includes(failure.check), `check ${failure.check} is not one of ${checks.join(', ')}\n${context}`);
  const where = `${failure.step ?? ''} ${failure.message}`;
  if (expected.itemName) {
    assert.ok(where.includes(expected.itemName),
      `the failure should name ${expected.itemName} (reference: ${expected.message})\n${context}`);
  }
  if (expected.errorClass === 'RuleVerificationError') {
    // Same rule, same artifacts, same side (materials/products) as the reference.
    assert.ok(expected.rule && failure.message.includes(expected.rule),
      `the message should name the rule ${expected.rule}\n${context}`);
    for (const artifact of expected.artifacts ?? []) {
      assert.ok(failure.message.includes(artifact), `the message should name ${artifact}\n${context}`);
    }
    if (expected.itemSourceType) {
      assert.ok(failure.message.includes(expected.itemSourceType),
        `the message should say ${expected.itemSourceType}\n${context}`);
    }
  }
  if (expected.expectedCode === 'LINKS_DISAGREE') {
    // The reference names both link files.
    for (const file of expected.message!.match(/'[^']+\.link'/g) ?? []) {
      assert.ok(failure.message.includes(file.slice(1, -1)), `the message should name ${file}\n${context}`);
    }
  }
}

describe('custody verify agrees with in-toto-verify on the corpus', { concurrency: 2 }, () => {
  let tmp = '';
  let corpus = '';

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'custody-interop-verify-'));
    corpus = join(tmp, 'corpus');
    await generateCorpus(corpus);
  }, { timeout: 180_000 });

  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`${c.name}: ${c.description}`, { timeout: 60_000 }, async () => {
      const expected = await readExpected(corpus, c.name);
      const original = join(corpus, c.name, 'verify');
      const work = await freshCopy(original, join(tmp, 'runs', c.name));
      const params = Object.entries(expected.params ?? {}).flatMap(([name, value]) => ['--param', `${name}=${value}`]);
      const args = ['verify', '--layout', expected.layout, ...layoutKeyArgs(expected, original), '--link-dir', '.', ...params, '--json'];
      const r = await limited(() => custody(args, { cwd: work }));
      const context = `${describeRun(`custody ${args.join(' ')}`, r)}\n--- reference (${expected.reference})\n` +
        `exit ${expected.exitCode} ${expected.errorClass ?? ''}: ${expected.fullMessage ?? ''}`;

      assert.equal(r.code, expected.exitCode, `exit code differs from the reference\n${context}`);
      let report: VerifyReport;
      try {
        report = JSON.parse(r.stdout) as VerifyReport;
      } catch {
        assert.fail(`--json output is not JSON\n${context}`);
      }
      assert.equal(report.verdict, expected.verdict, context);
      if (expected.verdict === 'fail') {
        checkFailure(expected, report, context);
      } else {
        assert.equal(report.failure, null, context);
      }
      // Command alignment is a warning, as in the reference.
      const commandWarnings = (report.warnings ?? []).filter((w) => /command/i.test(w));
      if (expected.warnings.some((w) => w.includes('differs from expected command'))) {
        assert.ok(commandWarnings.some((w) => w.includes('package')),
          `expected a command-mismatch warning for package\n${context}`);
      } else if (expected.verdict === 'pass') {
        assert.deepEqual(commandWarnings, [], `no command-mismatch warning expected\n${context}`);
      }
    });
  }
});
