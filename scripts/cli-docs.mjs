// Writes docs/cli.md from the CLI's own --help output, so the reference cannot drift from
// the code (test/docs/cli-docs.test.ts fails when it is stale: run `pnpm docs:cli`).
import { execFileSync } from 'node:child_process';
import { writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = `${root}packages/cli/bin/custody.mjs`;

export const COMMANDS = [
  [], ['keygen'], ['key', 'id'], ['key', 'show'], ['link', 'show'],
  ['run'], ['record', 'start'], ['record', 'stop'],
  ['layout', 'sign'], ['layout', 'lint'], ['layout', 'graph'],
  ['verify'], ['verify-bundle'],
  ['pipeline', 'run'],
  ['evidence'], ['plugins', 'list'],
  ['model', 'sign'], ['model', 'verify'],
  ['push'], ['pull'], ['registry', 'login'],
];

function help(args) {
  return execFileSync(process.execPath, [bin, ...args, '--help'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '100' },
  }).trimEnd();
}

export function renderCliDocs() {
  const parts = [
    '# custody CLI reference',
    '',
    'Generated from `custody … --help` by `pnpm docs:cli`; do not edit by hand.',
    '',
    'Exit codes everywhere: **0** pass, **1** verification failed, **2** bad usage or input',
    '(one line on stderr naming the file and the problem; `--debug` adds the stack trace).',
    '',
  ];
  for (const args of COMMANDS) {
    parts.push(`## custody ${args.join(' ')}`.trimEnd(), '', '```', help(args), '```', '');
  }
  return parts.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = `${root}docs/cli.md`;
  writeFileSync(`${out}.tmp`, renderCliDocs());
  renameSync(`${out}.tmp`, out);
  console.log('wrote docs/cli.md');
}
