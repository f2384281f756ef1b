// Validation against the official CycloneDX 1.6 JSON schema (copied unchanged into schemas/ from
// @cyclonedx/cyclonedx-library's res/schema), with the SPDX and JSF sub-schemas it references.
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import addFormats2019 from 'ajv-formats-draft2019';
import { CustodyError } from '@custody/core';
import bomSchema from '../../../schemas/cyclonedx-bom-1.6.schema.json' with { type: 'json' };
import spdxSchema from '../../../schemas/cyclonedx-bom-1.6.spdx.schema.json' with { type: 'json' };
import jsfSchema from '../../../schemas/cyclonedx-bom-1.6.jsf-0.82.schema.json' with { type: 'json' };

export { bomSchema, spdxSchema };

type ValidateFn = ((d: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params?: Record<string, unknown> }[] | null };
let validator: ValidateFn | undefined;

function getValidator(): ValidateFn {
  if (validator) return validator;
  // Imported statically so the CLI bundle carries them (the plugin loads on demand anyway).
  const ajv = new (Ajv as unknown as new (o: object) => { addSchema(s: object, key?: string): unknown; compile(s: object): ValidateFn })({ strict: false, allErrors: true, validateFormats: true });
  (addFormats as unknown as (a: unknown) => void)(ajv);
  (addFormats2019 as unknown as (a: unknown) => void)(ajv);
  // The BOM schema refers to its sub-schemas by their SNAPSHOT file names.
  ajv.addSchema(spdxSchema, 'http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json');
  ajv.addSchema(jsfSchema, 'http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json');
  validator = ajv.compile(bomSchema);
  return validator;
}

/** Schema errors of a BOM (empty when valid). */
export function bomSchemaErrors(bom: unknown): string[] {
  const v = getValidator();
  if (v(bom)) return [];
  return (v.errors ?? []).map((e) => {
    const extra = e.params && 'additionalProperty' in e.params ? ` '${String(e.params.additionalProperty)}'` : '';
    return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${extra}`;
  });
}

/** Throws BOM_INVALID with the first schema errors unless the BOM is valid CycloneDX 1.6. */
export function assertValidBom(bom: unknown, file?: string): void {
  const errors = bomSchemaErrors(bom);
  if (errors.length > 0) {
    throw new CustodyError('BOM_INVALID', `CycloneDX 1.6 schema validation failed: ${errors.slice(0, 3).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}`, { file });
  }
}

const SPDX_IDS = new Set<string>((spdxSchema as { enum: string[] }).enum);
/** True for ids on the SPDX license list CycloneDX 1.6 accepts in `license.id`. */
export function isSpdxLicenseId(id: string): boolean {
  return SPDX_IDS.has(id);
}
