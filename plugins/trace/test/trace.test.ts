import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStep } from '@custody/engine';
import { generateKeyPair, loadSigner } from '@custody/sign';
import { jcs, linkSubject } from '@custody/core';
import trace, { parseStraceLog, RUNTIME_TRACE_PREDICATE_TYPE } from '../src/index.ts';
import { dnsQuestions, ipv6 } from '../src/parse.ts';
import { splitArgs, unescapeC } from '../src/strace-text.ts';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const plugins = [{ plugin: trace, options: {}, source: 'test' }];
type Access = { name: string; digest?: { sha256: string }; annotations: { modes: string[]; workspacePath?: string; given?: string[]; renamedTo?: string[]; renamedFrom?: string[]; goneAtEnd?: boolean; changed?: boolean; digests: { start?: { sha256: string }; end?: { sha256: string } } } };
type Proc = { pid: number; ppid: number | null; exe?: string; argv?: string[]; cwd: string; exit: { code?: number; signal?: string }; threads?: number; execs?: { exe: string }[]; outlivedRoot?: boolean; sha256?: string };

function workspace(): string {
  return realpathSync(mkdtempSync(join(tmpdir(), 'custody-trace-')));
}

const PY = '/usr/bin/python3';

test('golden: fork, threads, execve from a thread, relative and long paths, delete, rename, mmap, a child that outlives its parent', async () => {
  const d = workspace();
  try {
    const long = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(40)}.txt`; // > 256 bytes
    mkdirSync(join(d, long, '..'), { recursive: true });
    writeFileSync(join(d, long), 'long');
    writeFileSync(join(d, 'weights.bin'), Buffer.alloc(8192, 7));
    writeFileSync(join(d, 'in.txt'), 'input');
    writeFileSync(join(d, 'gone.txt'), 'will be deleted');
    writeFileSync(join(d, 'thread-exec.py'), [
      'import os, threading, time',
      'def t(): os.execv("/bin/cat", ["cat", "in.txt"])',
      'threading.Thread(target=t).start()',
      'time.sleep(10)',
    ].join('\n'));
    writeFileSync(join(d, 'map-weights.py'), [
      'import mmap, threading',
      'f = open("weights.bin", "rb")',
      'm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)',
      'def worker(): open("from-thread.txt", "w").write(str(m[0]))',
      'ts = [threading.Thread(target=worker) for _ in range(2)]',
      '[t.start() for t in ts]; [t.join() for t in ts]',
    ].join('\n'));
    const script = [
      'cat in.txt > copy.txt',                          // fork + exec, relative paths
      `cat ${long} > /dev/null`,                          // a path longer than 256 bytes
      'mkdir -p sub && cd sub && cat ../in.txt > ../up.txt && cd ..', // cwd change, .. in a path
      'rm gone.txt',                                      // deleted before the step ends
      'echo a > tmp.txt && mv tmp.txt renamed.txt',       // rename
      `${PY} map-weights.py`,                                    // mmap of a weights file, threads
      `${PY} thread-exec.py > /dev/null`,                 // execve from a thread
      '(sleep 0.3; echo late > late.txt) &',              // outlives the shell
      'exit 0',
    ].join('\n');
    const r = await runStep({ stepName: 'golden', workdir: d, command: ['sh', '-c', script], materials: ['.'], products: ['.'], plugins, commandOutput: 'capture', recordStreams: true });
    assert.equal(r.exitCode, 0);
    assert.equal(r.link.byproducts.stderr, '');
    assert.equal(r.predicates.length, 1);
    const { predicate: p, predicateType, subjectIsLink } = r.predicates[0].predicate;
    assert.equal(predicateType, RUNTIME_TRACE_PREDICATE_TYPE);
    assert.equal(subjectIsLink, true);
    const log = p.monitorLog as { process: Proc[]; fileAccess: Access[] };
    const byWs = (ws: string) => log.fileAccess.find((f) => f.annotations.workspacePath === ws);
    const modes = (ws: string) => byWs(ws)?.annotations.modes;

    // processes: the root shell, its children with their argv, parents and exit codes
    const root = log.process[0];
    assert.equal(root.exe, '/usr/bin/sh');
    assert.equal(root.ppid, null);
    assert.equal(root.cwd, d);
    assert.deepEqual(root.exit, { code: 0 });
    assert.match(root.sha256!, /^[0-9a-f]{64}$/);
    const cats = log.process.filter((x) => x.exe === '/usr/bin/cat');
    assert.ok(cats.some((c) => c.argv?.join(' ') === 'cat in.txt' && c.ppid === root.pid && c.exit.code === 0));
    assert.ok(cats.some((c) => c.argv?.[1] === long), 'the long path is recorded whole in argv');
    // the subshell's cd: cat ran in sub/
    assert.ok(cats.some((c) => c.argv?.[1] === '../in.txt' && c.cwd === join(d, 'sub')));
    // python with threads; the thread that exec'd cat: the process lives on as cat
    const mm = log.process.find((x) => x.argv?.[1] === 'map-weights.py')!;
    assert.ok(mm, 'the mmap program');
    assert.ok((mm.threads ?? 0) >= 2, `threads folded into their process (${JSON.stringify(mm)})`);
    const te = log.process.find((x) => x.execs?.some((e) => e.exe === PY) && x.exe === '/bin/cat');
    assert.ok(te, 'execve from a thread: one process, python then cat');
    assert.deepEqual(te!.argv, ['cat', 'in.txt']);
    // the background child outlived the shell
    assert.ok(log.process.some((x) => x.exe === '/usr/bin/sleep' || x.outlivedRoot), 'sleep is traced');
    assert.ok(log.process.some((x) => x.outlivedRoot === true), 'a child outlived the root');
    assert.deepEqual(modes('late.txt'), ['create', 'write', 'truncate']);

    // file modes
    assert.deepEqual(modes('in.txt'), ['read']);
    assert.deepEqual(byWs('in.txt')!.annotations.digests.start!.sha256, sha('input'));
    assert.deepEqual(modes('copy.txt'), ['create', 'write', 'truncate']);
    assert.deepEqual(modes(long), ['read']);
    assert.ok(byWs(long)!.name.endsWith(long) && byWs(long)!.name.length > 256);
    assert.deepEqual(byWs('up.txt')!.annotations.given, ['../up.txt']);
    assert.deepEqual(modes('gone.txt'), ['delete']);
    assert.equal(byWs('gone.txt')!.annotations.goneAtEnd, true);
    assert.equal(byWs('gone.txt')!.annotations.digests.start!.sha256, sha('will be deleted'));
    assert.ok(!byWs('gone.txt')!.annotations.digests.end);
    assert.ok(modes('tmp.txt')!.includes('rename'));
    assert.deepEqual(byWs('tmp.txt')!.annotations.renamedTo, [join(d, 'renamed.txt')]);
    assert.deepEqual(byWs('renamed.txt')!.annotations.renamedFrom, [join(d, 'tmp.txt')]);
    assert.deepEqual(modes('weights.bin'), ['read', 'mmap']);
    assert.equal(byWs('weights.bin')!.digest!.sha256, sha(Buffer.alloc(8192, 7)));
    assert.deepEqual(modes('from-thread.txt'), ['create', 'write', 'truncate']);
    assert.ok(log.fileAccess.some((f) => f.name === '/bin/cat' || f.name === '/usr/bin/cat'), 'exec is a file access');
    // small: system libraries are counted, not listed
    assert.ok(!log.fileAccess.some((f) => f.name.startsWith('/usr/lib/')));
    assert.ok((p.monitorLog as { summarized: { prefix: string; files: number }[] }).summarized.some((s) => s.prefix === '/usr/lib/' && s.files > 0));
    assert.ok(JSON.stringify(p).length < 64_000, `summary stays small (${JSON.stringify(p).length} bytes)`);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('signed: the subject is the link digest; exit code passes through; a killed command fails the step', async () => {
  const d = workspace();
  try {
    writeFileSync(join(d, 'k.pem'), generateKeyPair('ed25519').privatePem);
    const signer = await loadSigner(join(d, 'k.pem'));
    const r = await runStep({ stepName: 'exit', workdir: d, command: ['sh', '-c', 'exit 5'], signer, outDir: 'out', format: 'dsse', plugins, commandOutput: 'capture' });
    assert.equal(r.exitCode, 5);
    assert.equal(r.link.byproducts['return-value'], 5);
    const att = r.written.find((f) => f.endsWith('.trace.att.json'))!;
    const statement = JSON.parse(Buffer.from(JSON.parse(readFileSync(att, 'utf8')).payload, 'base64').toString('utf8'));
    assert.deepEqual(statement.subject, [linkSubject(r.link, (t) => sha(t))]);
    assert.equal(statement.subject[0].digest.sha256, sha(jcs({ ...r.link })));
    assert.deepEqual(r.link.command, ['sh', '-c', 'exit 5'], 'the link records the command, not the strace wrapper');

    await assert.rejects(runStep({ stepName: 'killed', workdir: d, command: ['sh', '-c', 'kill -TERM $$'], signer, outDir: 'out2', plugins, commandOutput: 'capture' }),
      (e: { code: string; message: string }) => e.code === 'PLUGIN_FAILED' && e.message === "plugin 'trace' failed in execute: the traced command was killed by SIGTERM");
    await assert.rejects(runStep({ stepName: 'missing', workdir: d, command: ['no-such-command-xyz'], signer, outDir: 'out3', plugins, commandOutput: 'capture' }),
      (e: { code: string; message: string }) => e.code === 'COMMAND_NOT_FOUND' && /command not found/.test(e.message));
    await assert.rejects(runStep({ stepName: 'nostrace', workdir: d, command: ['true'], signer, outDir: 'out4', plugins: [{ plugin: trace, options: { strace: '/nonexistent/strace' }, source: 't' }], commandOutput: 'capture' }),
      (e: { code: string; message: string }) => e.code === 'PLUGIN_FAILED' && /tracer error: strace not found at \/nonexistent\/strace/.test(e.message));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('parser: execve from a thread resumes under the leader; lost events are problems', () => {
  const text = readFileSync(new URL('./fixtures/exec-from-thread.strace.log', import.meta.url), 'utf8');
  const log = parseStraceLog(text, '/tmp/tr');
  assert.deepEqual(log.problems, []);
  assert.equal(log.processes.size, 1);
  const p = log.processes.get(26149)!;
  assert.deepEqual(p.images.map((i) => i.path), ['/usr/bin/python3', '/bin/true']);
  assert.deepEqual(p.images[1].argv, ['true', 'from-thread']);
  assert.deepEqual(p.exit, { code: 0 });
  // the same log cut before the exit line: the process's end is lost
  const cut = text.split('\n').filter((l) => !l.includes('+++ exited')).join('\n');
  assert.deepEqual(parseStraceLog(cut, '/tmp/tr').problems, ['pid 26149: the trace has no exit status for it (events lost?)']);
  const garbage = parseStraceLog(`${text}\nnot a trace line\n`, '/tmp/tr');
  assert.deepEqual(garbage.problems, ['unparsable trace line: not a trace line']);
  const stray = parseStraceLog(`${text}\n999 1.0 openat(-100</x>, "a", 0) = 3</x/a>\n`, '/tmp/tr');
  assert.ok(stray.problems.some((m) => m === 'pid 999 appeared without a fork, clone or vfork the trace recorded'));
});

test('parser: a child (or thread) whose events come before the fork returns in its parent', () => {
  const log = parseStraceLog([
    '10 1.0 execve("/bin/sh", ["sh"], 0x1 /* 1 vars */) = 0',
    '10 1.1 clone(child_stack=NULL, flags=0x1200000|17 <unfinished ...>',
    '11 1.2 openat(-100</w>, "a", 0x241, 0666) = 3</w/a>',
    '10 1.3 <... clone resumed>, child_tidptr=0x1) = 11',
    '10 1.4 clone3({flags=0x3d0f00, stack=0x1} <unfinished ...>',
    '12 1.5 openat(-100</w>, "b", 0) = 3</w/b>',
    '10 1.6 <... clone3 resumed> => {parent_tid=[12]}, 88) = 12',
    '11 1.7 +++ exited with 0 +++',
    '12 1.8 +++ exited with 0 +++',
    '10 1.9 +++ exited with 0 +++',
  ].join('\n'), '/w');
  assert.deepEqual(log.problems, []);
  assert.deepEqual([...log.processes.keys()].sort(), [10, 11]);
  assert.equal(log.processes.get(11)!.ppid, 10);
  assert.deepEqual(log.processes.get(10)!.threads, [12]);
  assert.deepEqual(log.files.filter((f) => f.mode !== 'exec').map((f) => [f.pid, f.path, f.mode]), [[11, '/w/a', 'write'], [11, '/w/a', 'create'], [11, '/w/a', 'truncate'], [10, '/w/b', 'read']]);
});

test('strace text: escapes, annotations with commas and >, addresses, DNS questions', () => {
  assert.equal(unescapeC('a\\76b,c\\n\\303\\251\\"'), 'a>b,c\né"');
  assert.deepEqual(splitArgs('1</dev/null<char 1:3>>, 2'), ['1</dev/null<char 1:3>>', '2']);
  const dev = parseStraceLog('7 1.0 openat(-100</w>, "/dev/null", 0x241, 0666) = 3</dev/null<char 1:3>>\n7 1.1 openat(-100</w>, "/w", 0x200000) = 4</w>\n7 1.2 +++ exited with 0 +++', '/w');
  assert.deepEqual(dev.problems, []);
  assert.deepEqual(dev.files.map((f) => [f.path, f.resolved, f.mode]), [['/dev/null', undefined, 'write'], ['/dev/null', undefined, 'create'], ['/dev/null', undefined, 'truncate']], 'no O_PATH access, no device suffix');
  assert.deepEqual(splitArgs('-100</tmp/a\\76b,c>, "x, y", [1, 2], {a=1, b=2}, 0x80000'), ['-100</tmp/a\\76b,c>', '"x, y"', '[1, 2]', '{a=1, b=2}', '0x80000']);
  const log = parseStraceLog([
    '1 1.0 execve("/bin/x", ["x"], 0x1 /* 1 vars */) = 0',
    '1 1.1 connect(3<TCP:[1]>, {sa_family=0x2, sin_port="\\x1f\\x90", sin_addr="\\x7f\\x00\\x00\\x01"}, 16) = -1 ECONNREFUSED (Connection refused)',
    '1 1.2 connect(4<TCPv6:[2]>, {sa_family=0xa, sin6_port="\\x00\\x50", sin6_flowinfo="\\x00\\x00\\x00\\x00", sin6_addr="\\x20\\x01\\x0d\\xb8\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01", sin6_scope_id=0}, 28) = 0',
    '1 1.3 sendto(5<UDP:[3]>, "\\0224\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0\\7example\\3com\\0\\0\\1\\0\\1", 29, 0x4000, {sa_family=0x2, sin_port="\\x00\\x35", sin_addr="\\x0a\\x00\\x00\\x01"}, 16) = 29',
    '1 1.4 +++ exited with 0 +++',
  ].join('\n'), '/w');
  assert.deepEqual(log.problems, []);
  assert.deepEqual(log.net.map((n) => [n.op, n.family, n.address, n.port, n.protocol, n.result]), [
    ['connect', 'inet', '127.0.0.1', 8080, 'tcp', 'ECONNREFUSED'],
    ['connect', 'inet6', '2001:db8::1', 80, 'tcp', 'ok'],
    ['send', 'inet', '10.0.0.1', 53, 'udp', 'ok'],
  ]);
  assert.deepEqual(log.net[2].dns, ['example.com']);
  assert.equal(ipv6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]), '::ffff:127.0.0.1');
  assert.deepEqual(dnsQuestions(Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x41, 0, 0, 1, 0, 1])), ['a']);
});
