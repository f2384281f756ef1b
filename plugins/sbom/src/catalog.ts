// Catalogers: what packages a tree holds, read from the files package managers leave behind.
// Pure functions over the in-memory tree (no I/O): dpkg status (and distroless status.d),
// apk's installed database, Python distribution metadata (*.dist-info/METADATA,
// *.egg-info/PKG-INFO) and requirements pins, and node_modules package.json files.
import { PackageURL } from 'packageurl-js';
import type { Tree, TreeFile } from './source.ts';

export type Ecosystem = 'deb' | 'apk' | 'pypi' | 'npm';

export interface PackageLicense {
  /** An SPDX expression (PEP 639 License-Expression, apk L:, npm "MIT OR Apache-2.0"). */
  expression?: string;
  /** Otherwise license names as the package states them (mapped to SPDX ids where known). */
  names: string[];
}

export interface CatalogPackage {
  ecosystem: Ecosystem;
  name: string;
  version: string;
  purl: string;
  license: PackageLicense;
  /** The file the package was read from, inside the tree. */
  foundIn: string;
  /** sha256 of that metadata file. */
  foundInSha256?: string;
  arch?: string;
  /** dpkg: the source package (advisories for Debian name source packages). */
  sourceName?: string;
  /** Python: the requirements file line that pins it exactly (`name==version`). */
  pinnedBy?: string;
  /** Python: true when a requirements file pins this exact version. */
  pinned?: boolean;
}

export interface Distro {
  id: string;
  versionId?: string;
}

/** RFC 822-style header block (dpkg stanzas, METADATA, PKG-INFO): first value per key, plus repeats. */
export function parseHeaders(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break; // the body (METADATA's description) starts after a blank line
    if (/^[ \t]/.test(line) && last) {
      const vals = out.get(last)!;
      vals[vals.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    const v = line.slice(colon + 1).trim();
    if (!out.has(last)) out.set(last, []);
    out.get(last)!.push(v);
  }
  return out;
}

const first = (h: Map<string, string[]>, k: string) => h.get(k)?.[0];
const text = (f: TreeFile | undefined) => (f?.data ? f.data.toString('utf8') : undefined);

export function osRelease(tree: Tree): Distro | undefined {
  const t = text(tree.files.get('etc/os-release')) ?? text(tree.files.get('usr/lib/os-release'));
  if (!t) return undefined;
  const kv = new Map<string, string>();
  for (const line of t.split(/\r?\n/)) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1], m[2].replace(/^["']|["']$/g, ''));
  }
  const id = kv.get('ID');
  return id ? { id, versionId: kv.get('VERSION_ID') } : undefined;
}

/** Common license names (Debian DEP-5 short names, trove classifiers) → SPDX ids. */
const LICENSE_NAMES: Record<string, string> = {
  expat: 'MIT', mit: 'MIT', 'mit license': 'MIT',
  'apache-2': 'Apache-2.0', 'apache-2.0': 'Apache-2.0', 'apache 2.0': 'Apache-2.0', 'apache software license': 'Apache-2.0', 'apache license 2.0': 'Apache-2.0',
  'bsd-2-clause': 'BSD-2-Clause', 'bsd-3-clause': 'BSD-3-Clause', 'bsd license': 'BSD-3-Clause',
  'gpl-2': 'GPL-2.0-only', 'gpl-2+': 'GPL-2.0-or-later', 'gpl-3': 'GPL-3.0-only', 'gpl-3+': 'GPL-3.0-or-later',
  'lgpl-2.1': 'LGPL-2.1-only', 'lgpl-2.1+': 'LGPL-2.1-or-later', 'lgpl-3': 'LGPL-3.0-only', 'lgpl-3+': 'LGPL-3.0-or-later',
  isc: 'ISC', 'isc license (iscl)': 'ISC', zlib: 'Zlib', 'python software foundation license': 'PSF-2.0', 'mozilla public license 2.0 (mpl 2.0)': 'MPL-2.0',
  'gnu general public license v2 (gplv2)': 'GPL-2.0-only', 'gnu general public license v3 (gplv3)': 'GPL-3.0-only',
  'gnu lesser general public license v2 or later (lgplv2+)': 'LGPL-2.0-or-later', 'the unlicense (unlicense)': 'Unlicense',
};

export function normalizeLicenseName(name: string): string {
  const n = name.trim();
  return LICENSE_NAMES[n.toLowerCase()] ?? n;
}

function purl(type: Ecosystem, namespace: string | undefined, name: string, version: string, qualifiers?: Record<string, string>): string {
  const q = qualifiers && Object.keys(qualifiers).length ? qualifiers : undefined;
  return new PackageURL(type, namespace, name, version, q, undefined).toString();
}

/** Licenses named in a Debian machine-readable copyright file (DEP-5 `License:` fields). */
export function debianCopyrightLicenses(t: string): string[] {
  const out = new Set<string>();
  for (const m of t.matchAll(/^License:[ \t]*(\S[^\n]*)$/gm)) {
    for (const part of m[1].split(/\s+(?:or|and)\s+|\s*[|,]\s*/i)) if (part) out.add(normalizeLicenseName(part.replace(/\s+with\s+.*$/i, '')));
  }
  return [...out].sort();
}

function dpkgPackages(tree: Tree, distro: Distro | undefined): CatalogPackage[] {
  const out: CatalogPackage[] = [];
  const files = [...tree.files.values()].filter((f) => f.data && (f.path === 'var/lib/dpkg/status' || f.path.startsWith('var/lib/dpkg/status.d/')));
  const ns = distro?.id ?? 'debian';
  for (const f of files) {
    for (const stanza of f.data!.toString('utf8').split(/\r?\n\r?\n/)) {
      const h = parseHeaders(stanza.trim());
      const name = first(h, 'package');
      const version = first(h, 'version');
      if (!name || !version) continue;
      const status = first(h, 'status');
      // status.d files (distroless) carry no Status field; in status, only installed packages count
      if (status !== undefined && !/\binstalled$/.test(status)) continue;
      const arch = first(h, 'architecture');
      const copyright = text(tree.files.get(`usr/share/doc/${name}/copyright`));
      const qualifiers: Record<string, string> = {};
      if (arch) qualifiers.arch = arch;
      if (distro?.versionId) qualifiers.distro = `${distro.id}-${distro.versionId}`;
      const source = first(h, 'source')?.split(' ')[0];
      out.push({
        ecosystem: 'deb', name, version, arch, ...(source && source !== name ? { sourceName: source } : {}),
        purl: purl('deb', ns, name, version, qualifiers),
        license: { names: copyright ? debianCopyrightLicenses(copyright) : [] },
        foundIn: f.path, foundInSha256: f.sha256,
      });
    }
  }
  return out;
}

function apkPackages(tree: Tree, distro: Distro | undefined): CatalogPackage[] {
  const f = tree.files.get('lib/apk/db/installed');
  if (!f?.data) return [];
  const out: CatalogPackage[] = [];
  for (const block of f.data.toString('utf8').split(/\r?\n\r?\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split(/\r?\n/)) {
      const m = /^([A-Za-z]):(.*)$/.exec(line);
      if (m && !kv.has(m[1])) kv.set(m[1], m[2]);
    }
    const name = kv.get('P');
    const version = kv.get('V');
    if (!name || !version) continue;
    const arch = kv.get('A');
    const lic = kv.get('L');
    out.push({
      ecosystem: 'apk', name, version, arch,
      purl: purl('apk', distro?.id ?? 'alpine', name, version, arch ? { arch } : undefined),
      // apk's L: is an SPDX-style expression with spaces ("MIT AND BSD-2-Clause")
      license: lic ? { expression: lic, names: [] } : { names: [] },
      foundIn: f.path, foundInSha256: f.sha256,
    });
  }
  return out;
}

/** PEP 503 name normalization: runs of -, _ and . become one '-', lower case. */
export function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

export interface RequirementPin {
  name: string;
  /** The exact version when the line pins one with == or ===, else undefined. */
  version?: string;
  line: string;
  file: string;
}

/** requirements.txt lines: name, extras, specifiers; options (-r, -e, --hash) and URLs are not pins. */
export function parseRequirements(t: string, file: string): RequirementPin[] {
  const out: RequirementPin[] = [];
  const joined = t.replace(/\\\r?\n/g, ' ');
  for (const raw of joined.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line || line.startsWith('-')) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$/.exec(line);
    if (!m) continue;
    const spec = m[3].split(';')[0].replace(/\s+--hash=\S+/g, '').trim();
    const pin = /^===?\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)$/.exec(spec);
    // '==1.*' is a prefix match, not a pin
    out.push({ name: m[1], ...(pin && !pin[1].includes('*') ? { version: pin[1] } : {}), line, file });
  }
  return out;
}

function pythonPackages(tree: Tree): CatalogPackage[] {
  const out: CatalogPackage[] = [];
  for (const f of tree.files.values()) {
    if (!f.data) continue;
    const isMeta = /\.dist-info\/METADATA$/.test(f.path) || /\.egg-info\/PKG-INFO$/.test(f.path) || (/\.egg-info$/.test(f.path) && f.type === 'file');
    if (!isMeta) continue;
    const h = parseHeaders(f.data.toString('utf8'));
    const name = first(h, 'name');
    const version = first(h, 'version');
    if (!name || !version) continue;
    const expression = first(h, 'license-expression');
    const names: string[] = [];
    if (!expression) {
      const lic = first(h, 'license');
      // the License field is sometimes the whole license text; keep it only when it is a name
      if (lic && lic !== 'UNKNOWN' && !lic.includes('\n') && lic.length <= 80) names.push(normalizeLicenseName(lic));
      for (const c of h.get('classifier') ?? []) {
        const m = /^License :: (?:OSI Approved :: )?(.+)$/.exec(c);
        if (m && m[1] !== 'OSI Approved') names.push(normalizeLicenseName(m[1]));
      }
    }
    out.push({
      ecosystem: 'pypi', name, version,
      purl: purl('pypi', undefined, name, version),
      license: expression ? { expression, names: [] } : { names: [...new Set(names)] },
      foundIn: f.path, foundInSha256: f.sha256,
    });
  }
  return out;
}

function npmLicense(pkg: Record<string, unknown>): PackageLicense {
  const l = pkg.license;
  if (typeof l === 'string' && l && l !== 'UNLICENSED') {
    return /\s(OR|AND|WITH)\s|^\(/.test(l) ? { expression: l, names: [] } : { names: [normalizeLicenseName(l)] };
  }
  if (l && typeof l === 'object' && typeof (l as { type?: unknown }).type === 'string') return { names: [normalizeLicenseName((l as { type: string }).type)] };
  if (Array.isArray(pkg.licenses)) {
    return { names: pkg.licenses.map((x) => (typeof x === 'string' ? x : typeof (x as { type?: unknown })?.type === 'string' ? (x as { type: string }).type : '')).filter(Boolean).map(normalizeLicenseName) };
  }
  return { names: [] };
}

function npmPackages(tree: Tree): CatalogPackage[] {
  const out: CatalogPackage[] = [];
  for (const f of tree.files.values()) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/@][^/]*)\/package\.json$/.exec(f.path);
    if (!m || !f.data) continue;
    let pkg: Record<string, unknown>;
    try {
      pkg = JSON.parse(f.data.toString('utf8')) as Record<string, unknown>;
    } catch {
      continue; // a broken package.json in node_modules is not a package we can name
    }
    if (!pkg || typeof pkg !== 'object' || typeof pkg.version !== 'string') continue;
    // the folder name is what `require` resolves; the manifest's name should agree
    const name = typeof pkg.name === 'string' && pkg.name ? pkg.name : m[1];
    const [namespace, bare] = name.startsWith('@') ? [name.slice(0, name.indexOf('/')), name.slice(name.indexOf('/') + 1)] : [undefined, name];
    out.push({
      ecosystem: 'npm', name, version: pkg.version,
      purl: purl('npm', namespace, bare, pkg.version),
      license: npmLicense(pkg),
      foundIn: f.path, foundInSha256: f.sha256,
    });
  }
  return out;
}

export interface Catalog {
  distro?: Distro;
  packages: CatalogPackage[];
  requirements: RequirementPin[];
}

/** Every package the tree holds, sorted by purl; Python packages marked pinned or not. */
export function catalog(tree: Tree): Catalog {
  const distro = osRelease(tree);
  const requirements: RequirementPin[] = [];
  for (const f of tree.files.values()) {
    if (f.data && /(^|\/)requirements[^/]*\.txt$/.test(f.path)) requirements.push(...parseRequirements(f.data.toString('utf8'), f.path));
  }
  const pins = new Map<string, RequirementPin>();
  for (const r of requirements) if (r.version) pins.set(`${normalizePythonName(r.name)}@${r.version}`, r);
  const packages = [...dpkgPackages(tree, distro), ...apkPackages(tree, distro), ...pythonPackages(tree), ...npmPackages(tree)];
  for (const p of packages) {
    if (p.ecosystem !== 'pypi') continue;
    const pin = pins.get(`${normalizePythonName(p.name)}@${p.version}`);
    p.pinned = pin !== undefined;
    if (pin) p.pinnedBy = `${pin.file}: ${pin.line}`;
  }
  // A requirement for something not installed is still part of what the image declares.
  const installed = new Set(packages.filter((p) => p.ecosystem === 'pypi').map((p) => normalizePythonName(p.name)));
  for (const r of requirements) {
    if (installed.has(normalizePythonName(r.name)) || !r.version) continue;
    installed.add(normalizePythonName(r.name));
    packages.push({ ecosystem: 'pypi', name: r.name, version: r.version, purl: purl('pypi', undefined, r.name, r.version), license: { names: [] }, foundIn: r.file, pinned: true, pinnedBy: `${r.file}: ${r.line}` });
  }
  const seen = new Set<string>();
  const unique = packages.filter((p) => (seen.has(`${p.purl} ${p.foundIn}`) ? false : (seen.add(`${p.purl} ${p.foundIn}`), true)));
  unique.sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : a.foundIn < b.foundIn ? -1 : 1));
  return { distro, packages: unique, requirements };
}
