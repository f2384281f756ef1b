/**
 * Evidence binding: a Statement counts for step S only when it is about S's run. The signature
 * check (a functionary of S signed it) is the collector's; this module adds what the signed
 * content must say:
 *
 * - it names S: a subject annotation `https://custody.dev/step` equal to S, or the digest of one
 *   of S's verified links (annotation `https://custody.dev/link`, or a subject whose digest is
 *   that link digest). The file name never decides it.
 * - it belongs to the verified run: a link annotation, when present, is the digest of a link
 *   counted for S (not an earlier or concurrent run's link);
 * - it describes that run's artifacts: every subject is an artifact S's link recorded (path and
 *   digest among its products or materials; a subject named otherwise, such as an image by its
 *   manifest digest, by digest alone), or S's link itself (run-level evidence).
 *
 * Candidates that fail are rejected with a code and reason; none is preferred by file name,
 * time or order. Pure.
 */
import { createHash } from 'node:crypto';
import { jcs } from '../canonical.ts';
import type { ErrorCode } from '../errors.ts';
import type { ArtifactMap, LinkBody } from '../model/link.ts';
import type { ResourceDescriptor, Statement } from '../statement.ts';

/** Subject annotation naming the step a Statement is evidence for. */
export const STEP_ANNOTATION = 'https://custody.dev/step';
/** Subject annotation naming the link (its digest, `sha256:HEX`) of the run a Statement describes. */
export const LINK_ANNOTATION = 'https://custody.dev/link';

/**
 * The digest that names a link: SHA-256 of the RFC 8785 canonical JSON of its body (the legacy
 * link fields), the same whether it was written as a metablock, DSSE link or link Statement —
 * and the digest of statement.ts's `linkSubject` (run-level evidence names the link by it).
 */
export function linkDigest(link: LinkBody): string {
  const body = {
    _type: 'link', name: link.name, command: link.command, materials: link.materials, products: link.products,
    byproducts: link.byproducts ?? {}, environment: link.environment ?? {},
  };
  return createHash('sha256').update(jcs(body), 'utf8').digest('hex');
}

/** The annotations custody's writers put on every subject of a step's Statements. */
export function bindingAnnotations(step: string, link: LinkBody): Record<string, string> {
  return { [STEP_ANNOTATION]: step, [LINK_ANNOTATION]: `sha256:${linkDigest(link)}` };
}

/** Every subject annotated with the step and its link (existing annotations kept). */
export function bindSubjects(subjects: readonly ResourceDescriptor[], step: string, link: LinkBody): ResourceDescriptor[] {
  const a = bindingAnnotations(step, link);
  return subjects.map((s) => ({ ...s, annotations: { ...(s.annotations ?? {}), ...a } }));
}

export interface BindingRejection {
  code: ErrorCode;
  reason: string;
}

function sameDigest(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (!a || !b) return false;
  const common = Object.keys(a).filter((alg) => Object.prototype.hasOwnProperty.call(b, alg));
  return common.length > 0 && common.every((alg) => String(a[alg]).toLowerCase() === String(b[alg]).toLowerCase());
}

function shortDigest(d: Record<string, string> | undefined): string {
  if (!d) return '(none)';
  const alg = d.sha256 !== undefined ? 'sha256' : Object.keys(d).sort()[0];
  return alg === undefined ? '(none)' : `${alg}:${String(d[alg]).slice(0, 16)}…`;
}

function recorded(map: ArtifactMap, name: string): Record<string, string> | undefined {
  return Object.prototype.hasOwnProperty.call(map, name) ? map[name] : undefined;
}

/**
 * Why `statement` is no evidence for `step`, whose counted links are `links`; undefined when it
 * is bound to one of them.
 */
export function bindingProblem(statement: Statement, step: string, links: readonly LinkBody[]): BindingRejection | undefined {
  const digests = links.map((l) => linkDigest(l));
  const subjects = statement.subject ?? [];
  const namedSteps = new Set<string>();
  const namedLinks = new Set<string>();
  for (const s of subjects) {
    const a = s.annotations;
    if (!a) continue;
    if (typeof a[STEP_ANNOTATION] === 'string') namedSteps.add(a[STEP_ANNOTATION] as string);
    if (typeof a[LINK_ANNOTATION] === 'string') namedLinks.add(String(a[LINK_ANNOTATION]).replace(/^sha256:/i, '').toLowerCase());
  }
  const other = [...namedSteps].find((n) => n !== step);
  if (other !== undefined) {
    return { code: 'EVIDENCE_WRONG_STEP', reason: `its signed subjects name step '${other}', not '${step}'` };
  }
  const isLinkSubject = (s: ResourceDescriptor) => typeof s.digest?.sha256 === 'string' && digests.includes(s.digest.sha256.toLowerCase());
  if (namedSteps.size === 0 && namedLinks.size === 0 && !subjects.some(isLinkSubject)) {
    return { code: 'EVIDENCE_UNBOUND', reason: `its signed content names no step (no ${STEP_ANNOTATION} annotation, no link digest of '${step}'); a file name proves nothing` };
  }
  for (const d of namedLinks) {
    if (!digests.includes(d)) {
      return {
        code: 'EVIDENCE_OTHER_RUN',
        reason: `it describes another run of '${step}': its link is sha256:${d.slice(0, 16)}…, the verified link is ${digests.map((x) => `sha256:${x.slice(0, 16)}…`).join(' or ')}`,
      };
    }
  }
  // Every subject is something the run recorded (or its link): the first one that is not, with both digests.
  for (const s of subjects) {
    if (isLinkSubject(s)) continue;
    const name = s.name ?? s.uri ?? '';
    let best: { where: string; digest: Record<string, string> } | undefined;
    let ok = false;
    for (const l of links) {
      for (const [where, map] of [['products', l.products], ['materials', l.materials]] as const) {
        const d = recorded(map, name);
        if (d !== undefined) {
          if (sameDigest(d, s.digest)) ok = true;
          else best ??= { where, digest: d };
        }
        // An artifact named otherwise (an image by its manifest digest, recorded as
        // blobs/sha256/<hex>) is still that artifact: the digest decides, never the name alone.
        if (!ok && d === undefined && Object.values(map).some((x) => sameDigest(x, s.digest))) ok = true;
      }
    }
    if (ok) continue;
    return {
      code: 'EVIDENCE_SUBJECT_MISMATCH',
      reason: best
        ? `subject ${JSON.stringify(name)} has ${shortDigest(s.digest)}, but '${step}' recorded ${shortDigest(best.digest)} (${best.where})`
        : `subject ${JSON.stringify(name)} (${shortDigest(s.digest)}) is no artifact '${step}' recorded`,
    };
  }
  return undefined;
}
