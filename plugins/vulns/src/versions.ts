// Version ordering per ecosystem, as OSV's ECOSYSTEM ranges need it: PEP 440 for PyPI, SemVer
// 2.0 (the semver package, as npm itself uses) for npm and SEMVER ranges, dpkg's algorithm for
// Debian/Ubuntu, apk's for Alpine. A version an ecosystem cannot parse is an error the matcher
// reports — it never silently counts as "not affected".
import semver from 'semver';

export class VersionParseError extends Error {}

// ---------------------------------------------------------------------------------------------
// PEP 440

interface Pep440 {
  epoch: number;
  release: number[];
  pre?: [number, number]; // phase (a=0, b=1, rc=2), number
  post?: number;
  dev?: number;
  local?: (number | string)[];
}

const PEP440 = /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/;

export function parsePep440(v: string): Pep440 {
  const m = PEP440.exec(v.trim().toLowerCase());
  if (!m) throw new VersionParseError(`'${v}' is not a PEP 440 version`);
  const phase = m[3] === undefined ? undefined : m[3] === 'a' || m[3] === 'alpha' ? 0 : m[3] === 'b' || m[3] === 'beta' ? 1 : 2;
  return {
    epoch: m[1] ? Number(m[1]) : 0,
    release: m[2].split('.').map(Number),
    ...(phase !== undefined ? { pre: [phase, m[4] ? Number(m[4]) : 0] as [number, number] } : {}),
    ...(m[5] !== undefined ? { post: Number(m[5]) } : m[6] !== undefined ? { post: m[7] ? Number(m[7]) : 0 } : {}),
    ...(m[8] !== undefined ? { dev: m[9] ? Number(m[9]) : 0 } : {}),
    ...(m[10] !== undefined ? { local: m[10].split(/[-_.]/).map((s) => (/^\d+$/.test(s) ? Number(s) : s)) } : {}),
  };
}

const cmp = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);

export function comparePep440(a: string, b: string): number {
  const x = parsePep440(a);
  const y = parsePep440(b);
  if (x.epoch !== y.epoch) return cmp(x.epoch, y.epoch);
  // release segments compare with trailing zeros ignored (1.0 == 1.0.0)
  const n = Math.max(x.release.length, y.release.length);
  for (let i = 0; i < n; i++) {
    const c = cmp(x.release[i] ?? 0, y.release[i] ?? 0);
    if (c) return c;
  }
  // a dev release of a final version sorts before its pre-releases: 1.0.dev1 < 1.0a1 < 1.0
  const preKey = (p: Pep440): [number, number, number] => (p.pre ? [0, p.pre[0], p.pre[1]] : p.post === undefined && p.dev !== undefined ? [-1, 0, 0] : [1, 0, 0]);
  const [pa, pb] = [preKey(x), preKey(y)];
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return cmp(pa[i], pb[i]);
  const postKey = (p: Pep440) => (p.post === undefined ? -1 : p.post);
  if (postKey(x) !== postKey(y)) return cmp(postKey(x), postKey(y));
  const devKey = (p: Pep440) => (p.dev === undefined ? Infinity : p.dev);
  if (devKey(x) !== devKey(y)) return cmp(devKey(x), devKey(y));
  // local versions sort after the public one; segments: numbers above strings, numbers numerically
  const la = x.local ?? [];
  const lb = y.local ?? [];
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] === undefined) return -1;
    if (lb[i] === undefined) return 1;
    const [s, t] = [la[i], lb[i]];
    if (typeof s === 'number' && typeof t === 'number') {
      if (s !== t) return cmp(s, t);
    } else if (typeof s === 'number') return 1;
    else if (typeof t === 'number') return -1;
    else if (s !== t) return s < t ? -1 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// dpkg (deb-version(7)): [epoch:]upstream[-revision]

function dpkgOrder(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: alternating non-digit parts (~ < end < letters < others) and numbers. */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/\d/.test(a[i])) || (j < b.length && !/\d/.test(b[j]))) {
      const ac = i < a.length && !/\d/.test(a[i]) ? a[i] : undefined;
      const bc = j < b.length && !/\d/.test(b[j]) ? b[j] : undefined;
      const d = dpkgOrder(ac) - dpkgOrder(bc);
      if (d) return d < 0 ? -1 : 1;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && /\d/.test(a[i]) && j < b.length && /\d/.test(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /\d/.test(a[i])) return 1;
    if (j < b.length && /\d/.test(b[j])) return -1;
    if (firstDiff) return firstDiff < 0 ? -1 : 1;
  }
  return 0;
}

export function parseDpkg(v: string): { epoch: number; upstream: string; revision: string } {
  const s = v.trim();
  const colon = s.indexOf(':');
  const epochText = colon >= 0 ? s.slice(0, colon) : '0';
  if (!/^\d+$/.test(epochText)) throw new VersionParseError(`'${v}' has an epoch that is not a number`);
  const rest = colon >= 0 ? s.slice(colon + 1) : s;
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (!/^\d[A-Za-z0-9.+~:-]*$/.test(upstream)) throw new VersionParseError(`'${v}' is not a Debian version (the upstream part must start with a digit)`);
  if (!/^[A-Za-z0-9.+~]*$/.test(revision)) throw new VersionParseError(`'${v}' has an invalid Debian revision`);
  return { epoch: Number(epochText), upstream, revision };
}

export function compareDpkg(a: string, b: string): number {
  const x = parseDpkg(a);
  const y = parseDpkg(b);
  if (x.epoch !== y.epoch) return cmp(x.epoch, y.epoch);
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}

// ---------------------------------------------------------------------------------------------
// apk (Alpine): digits{.digits}[letter]{_suffix[N]}[-rN]; suffixes alpha<beta<pre<rc<(none)<cvs<svn<git<hg<p

const APK = /^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$/;
const APK_SUFFIX: Record<string, number> = { alpha: -4, beta: -3, pre: -2, rc: -1, cvs: 1, svn: 2, git: 3, hg: 4, p: 5 };

export function compareApk(a: string, b: string): number {
  const parse = (v: string) => {
    const m = APK.exec(v.trim());
    if (!m) throw new VersionParseError(`'${v}' is not an Alpine package version`);
    const suffixes = [...m[3].matchAll(/_([a-z]+)(\d*)/g)].map((s) => [APK_SUFFIX[s[1]], s[2] ? Number(s[2]) : 0] as [number, number]);
    return { nums: m[1].split('.'), letter: m[2], suffixes, rev: m[4] ? Number(m[4]) : 0 };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    if (x.nums[i] === undefined) return -1;
    if (y.nums[i] === undefined) return 1;
    // apk compares later segments with a leading zero as fractions ("1.02" < "1.1")
    const c = i > 0 && (x.nums[i].startsWith('0') || y.nums[i].startsWith('0')) ? (x.nums[i] < y.nums[i] ? -1 : x.nums[i] > y.nums[i] ? 1 : 0) : cmp(Number(x.nums[i]), Number(y.nums[i]));
    if (c) return c;
  }
  if (x.letter !== y.letter) return x.letter < y.letter ? -1 : 1;
  for (let i = 0; i < Math.max(x.suffixes.length, y.suffixes.length); i++) {
    const s = x.suffixes[i] ?? [0, 0];
    const t = y.suffixes[i] ?? [0, 0];
    if (s[0] !== t[0]) return cmp(s[0], t[0]);
    if (s[1] !== t[1]) return cmp(s[1], t[1]);
  }
  return cmp(x.rev, y.rev);
}

// ---------------------------------------------------------------------------------------------

export function compareSemver(a: string, b: string): number {
  const x = semver.parse(a.replace(/^v/, ''));
  const y = semver.parse(b.replace(/^v/, ''));
  if (!x) throw new VersionParseError(`'${a}' is not a SemVer version`);
  if (!y) throw new VersionParseError(`'${b}' is not a SemVer version`);
  return semver.compare(x, y);
}

/** OSV ecosystem name ('PyPI', 'npm', 'Debian:12', 'Alpine:v3.19', …) → its comparator. */
export function comparatorFor(ecosystem: string): ((a: string, b: string) => number) | undefined {
  const base = ecosystem.split(':')[0];
  switch (base) {
    case 'PyPI':
      return comparePep440;
    case 'npm':
      return compareSemver;
    case 'Debian':
    case 'Ubuntu':
      return compareDpkg;
    case 'Alpine':
      return compareApk;
    default:
      return undefined;
  }
}
