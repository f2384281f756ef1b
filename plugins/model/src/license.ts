// License policy input: Hugging Face license ids → SPDX ids, with `other` resolved through
// license_link or a LICENSE file. Ids without an SPDX entry become LicenseRef-hf-<id>.
import type { ModelCard } from './modelcard.ts';

/** Hugging Face model card license ids (lowercase) → SPDX license ids. */
const HF_TO_SPDX: Readonly<Record<string, string>> = {
  'apache-2.0': 'Apache-2.0', mit: 'MIT', 'afl-3.0': 'AFL-3.0', 'artistic-2.0': 'Artistic-2.0',
  'bsl-1.0': 'BSL-1.0', 'bsd-2-clause': 'BSD-2-Clause', 'bsd-3-clause': 'BSD-3-Clause',
  'bsd-3-clause-clear': 'BSD-3-Clause-Clear', 'c-uda': 'C-UDA-1.0', 'cc0-1.0': 'CC0-1.0',
  'cc-by-2.0': 'CC-BY-2.0', 'cc-by-2.5': 'CC-BY-2.5', 'cc-by-3.0': 'CC-BY-3.0', 'cc-by-4.0': 'CC-BY-4.0',
  'cc-by-sa-3.0': 'CC-BY-SA-3.0', 'cc-by-sa-4.0': 'CC-BY-SA-4.0', 'cc-by-nc-2.0': 'CC-BY-NC-2.0',
  'cc-by-nc-3.0': 'CC-BY-NC-3.0', 'cc-by-nc-4.0': 'CC-BY-NC-4.0', 'cc-by-nd-4.0': 'CC-BY-ND-4.0',
  'cc-by-nc-nd-3.0': 'CC-BY-NC-ND-3.0', 'cc-by-nc-nd-4.0': 'CC-BY-NC-ND-4.0', 'cc-by-nc-sa-2.0': 'CC-BY-NC-SA-2.0',
  'cc-by-nc-sa-3.0': 'CC-BY-NC-SA-3.0', 'cc-by-nc-sa-4.0': 'CC-BY-NC-SA-4.0',
  'cdla-sharing-1.0': 'CDLA-Sharing-1.0', 'cdla-permissive-1.0': 'CDLA-Permissive-1.0',
  'cdla-permissive-2.0': 'CDLA-Permissive-2.0', wtfpl: 'WTFPL', 'ecl-2.0': 'ECL-2.0', 'epl-1.0': 'EPL-1.0',
  'epl-2.0': 'EPL-2.0', 'etalab-2.0': 'etalab-2.0', 'eupl-1.1': 'EUPL-1.1', 'eupl-1.2': 'EUPL-1.2',
  'agpl-3.0': 'AGPL-3.0-only', 'gfdl': 'GFDL-1.3-only', 'gpl-2.0': 'GPL-2.0-only', 'gpl-3.0': 'GPL-3.0-only',
  'lgpl-2.1': 'LGPL-2.1-only', 'lgpl-3.0': 'LGPL-3.0-only', isc: 'ISC', 'lppl-1.3c': 'LPPL-1.3c',
  'ms-pl': 'MS-PL', 'mpl-2.0': 'MPL-2.0', 'odc-by': 'ODC-By-1.0', odbl: 'ODbL-1.0', 'osl-3.0': 'OSL-3.0',
  postgresql: 'PostgreSQL', 'ofl-1.1': 'OFL-1.1', ncsa: 'NCSA', unlicense: 'Unlicense', zlib: 'Zlib',
  pddl: 'PDDL-1.0',
};

/** HF ids with no SPDX entry (model licenses such as OpenRAIL or Llama); kept as LicenseRef. */
const HF_NON_SPDX = new Set([
  'openrail', 'openrail++', 'bigscience-openrail-m', 'creativeml-openrail-m', 'bigscience-bloom-rail-1.0',
  'bigcode-openrail-m', 'llama2', 'llama3', 'llama3.1', 'llama3.2', 'llama3.3', 'llama4', 'gemma',
  'deepfloyd-if-license', 'fair-noncommercial-research-license', 'apple-ascl', 'apple-amlr', 'h-research',
  'intel-research', 'lgpl-lr', 'openmdw-1.0', 'cc', 'bsd', 'gpl', 'lgpl',
]);

export type LicenseSource = 'README.md front matter' | 'LICENSE';

export interface ModelLicense {
  /** SPDX id, `LicenseRef-…` for a named non-SPDX license, or NOASSERTION. */
  spdxId: string;
  source: LicenseSource | 'none';
  /** The file the decision came from (README.md, LICENSE, LICENSE.txt, ...). */
  file?: string;
  /** The value as written: the HF id, or the first line of the license text. */
  raw?: string;
  name?: string;
  link?: string;
}

/** Maps a Hugging Face license id to SPDX (case-insensitive); undefined for `other`/`unknown`/empty. */
export function hfLicenseToSpdx(id: string): string | undefined {
  const key = id.trim().toLowerCase();
  if (key === '' || key === 'other' || key === 'unknown') return undefined;
  const spdx = HF_TO_SPDX[key];
  if (spdx) return spdx;
  if (HF_NON_SPDX.has(key)) return `LicenseRef-hf-${key}`;
  // Someone wrote an SPDX id directly (e.g. "MIT" or "Apache-2.0"): match it case-insensitively.
  for (const v of Object.values(HF_TO_SPDX)) if (v.toLowerCase() === key) return v;
  return `LicenseRef-${key.replace(/[^A-Za-z0-9.-]/g, '-')}`;
}

/** Recognizes a license text by its distinctive wording; NOASSERTION when it cannot tell. */
export function identifyLicenseText(text: string): string {
  const t = text.replace(/\s+/g, ' ');
  if (/Apache License,? Version 2\.0/i.test(t)) return 'Apache-2.0';
  if (/Permission is hereby granted, free of charge, to any person obtaining a copy/i.test(t)) {
    return /The above copyright notice and this permission notice shall be included/i.test(t) ? 'MIT' : 'MIT-0';
  }
  if (/Mozilla Public License,? (version|v\.?) ?2\.0/i.test(t)) return 'MPL-2.0';
  if (/GNU LESSER GENERAL PUBLIC LICENSE Version 3/i.test(t)) return 'LGPL-3.0-only';
  if (/GNU AFFERO GENERAL PUBLIC LICENSE Version 3/i.test(t)) return 'AGPL-3.0-only';
  if (/GNU GENERAL PUBLIC LICENSE Version 3/i.test(t)) return 'GPL-3.0-only';
  if (/GNU GENERAL PUBLIC LICENSE Version 2/i.test(t)) return 'GPL-2.0-only';
  if (/This is free and unencumbered software released into the public domain/i.test(t)) return 'Unlicense';
  if (/Permission to use, copy, modify, and\/or distribute this software for any purpose with or without fee/i.test(t)) return 'ISC';
  if (/Redistribution and use in source and binary forms/i.test(t)) {
    return /Neither the name|names of its contributors may be used/i.test(t) ? 'BSD-3-Clause' : 'BSD-2-Clause';
  }
  if (/Creative Commons Attribution 4\.0 International/i.test(t) && !/NonCommercial|ShareAlike|NoDerivatives/i.test(t)) return 'CC-BY-4.0';
  if (/RAIL|Responsible AI License/i.test(t)) return 'LicenseRef-hf-openrail';
  return 'NOASSERTION';
}

export const LICENSE_FILE_NAMES = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'LICENCE', 'COPYING'];

/**
 * Decides the model's license. `readFile(name)` returns a repository file's text or undefined;
 * the decision names the file it came from so a policy failure can say so.
 */
export function resolveModelLicense(card: ModelCard | undefined, readFile: (name: string) => string | undefined): ModelLicense {
  const fromLicenseFile = (preferred?: string): ModelLicense | undefined => {
    const names = preferred ? [preferred, ...LICENSE_FILE_NAMES] : LICENSE_FILE_NAMES;
    for (const name of names) {
      const text = readFile(name);
      if (text === undefined) continue;
      return { spdxId: identifyLicenseText(text), source: 'LICENSE', file: name, raw: text.split('\n').find((l) => l.trim() !== '')?.trim() };
    }
    return undefined;
  };
  if (card?.license !== undefined) {
    const spdx = hfLicenseToSpdx(card.license);
    const base = {
      source: 'README.md front matter' as const, file: 'README.md', raw: card.license,
      ...(card.licenseName !== undefined ? { name: card.licenseName } : {}),
      ...(card.licenseLink !== undefined ? { link: card.licenseLink } : {}),
    };
    const named = { ...(card.licenseName !== undefined ? { name: card.licenseName } : {}), ...(card.licenseLink !== undefined ? { link: card.licenseLink } : {}) };
    if (spdx) return { spdxId: spdx, ...base };
    // `other`: a license_link to a file in the repository decides; else any LICENSE file; else the name.
    const link = card.licenseLink;
    if (link && !/^[a-z][a-z0-9+.-]*:/i.test(link)) {
      const rel = link.replace(/^\.?\//, '');
      const viaLink = fromLicenseFile(rel);
      if (viaLink) return { ...viaLink, ...named };
    }
    const viaFile = fromLicenseFile();
    if (viaFile) return { ...viaFile, ...named };
    const ref = card.licenseName ? `LicenseRef-${card.licenseName.replace(/[^A-Za-z0-9.-]/g, '-')}` : 'NOASSERTION';
    return { spdxId: ref, ...base };
  }
  return fromLicenseFile() ?? { spdxId: 'NOASSERTION', source: 'none' };
}
