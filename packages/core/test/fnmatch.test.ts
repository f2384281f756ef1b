// custody's fnmatch must accept exactly what Python's fnmatch (the reference's matcher) accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fnmatch, fnmatchFilter, fnmatchTranslate } from '@custody/core';

const SYSTEM_PYTHON = '/usr/bin/python3';

const PATTERNS = [
  '*', '*.py', 'demo-project/*', 'demo-project/*.py', '?', '??.txt', 'a?c', '*/*', '**', 'src/**/x',
  '[abc]', '[!abc]', '[a-c]*', '[!a-c]*', '[]]', '[!]]', '[]a]', '[!]a]x', '[', '[!', 'a[', 'a[b', '[a-]', '[-a]',
  '[z-a]', '[!z-a]', '[a-c-e]', '[\\]', '[\\\\]x', 'x\\y', '[^a]', '[[]', '[a[]', '[&&a]', '[~~]', '[||]',
  '*.[ch]', 'foo.py', 'FOO.py', '.keep', '.*', '*~', '*.link*', 'a*b*c', '*a*a*a*', '(x)', '{a,b}', 'a+b', 'a$b', '^x', 'a|b',
  'dé/*', '✓?', '[é-ü]', '😀', '?😀', 'a.b', 'tab\tx', 'nl*', '[!/]*', '*/', '',
];
const NAMES = [
  '', 'a', 'b', 'c', 'd', 'x', 'z', ']', '[', '-', '\\', '!', '^', '&', '~', '|', 'ab', 'abc', 'aXbYc', 'aaa', 'a[b', 'a[',
  'foo.py', 'FOO.py', 'foo.PY', 'foo.c', 'foo.h', 'x.txt', 'ab.txt', 'abc.txt', 'demo-project/foo.py', 'demo-project/a/b.py',
  'demo-project', 'src/x', 'src/a/b/x', 'a/b', '/abs', '.keep', '.git', 'x~', 'step.1234.link', 'a.link-unfinished', ']a', ']ax',
  '(x)', '{a,b}', 'a', 'a+b', 'aab', 'a$b', '^x', 'a|b', 'dé/x', '✓!', 'ë', 'é', 'ü', '😀', 'x😀', '😀😀', 'a.b', 'aXb', 'tab\tx',
  'nl\nnext', 'nl', 'x\\y', 'a/', 'e', 'c-', 'a-', 'y',
];

function pythonResults(): boolean[][] {
  const script = [
    'import fnmatch, json, sys',
    'd = json.load(sys.stdin)',
    'print(json.dumps([[fnmatch.fnmatch(n, p) for n in d["names"]] for p in d["patterns"]]))',
  ].join('\n');
  const r = spawnSync(SYSTEM_PYTHON, ['-c', script], { input: JSON.stringify({ patterns: PATTERNS, names: NAMES }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as boolean[][];
}

test('fnmatch agrees with Python fnmatch on every pattern × name of the table', () => {
  const expected = pythonResults();
  const mismatches: string[] = [];
  PATTERNS.forEach((p, i) => {
    NAMES.forEach((n, j) => {
      const got = fnmatch(n, p);
      if (got !== expected[i][j]) mismatches.push(`fnmatch(${JSON.stringify(n)}, ${JSON.stringify(p)}) = ${got}, python says ${expected[i][j]} (regex ${fnmatchTranslate(p)})`);
    });
  });
  assert.deepEqual(mismatches, []);
});

test('* matches / and dot files; matching is case-sensitive', () => {
  assert.ok(fnmatch('demo-project/sub/dir/foo.py', 'demo-project/*'));
  assert.ok(fnmatch('.git/config', '*'));
  assert.ok(!fnmatch('FOO.PY', '*.py'));
  assert.ok(fnmatch('a\nb', 'a?b'));
});

test('fnmatchFilter keeps iteration order', () => {
  assert.deepEqual(fnmatchFilter(new Set(['b.py', 'a.txt', 'a.py']), '*.py'), ['b.py', 'a.py']);
});
