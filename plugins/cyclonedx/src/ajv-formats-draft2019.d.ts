// ajv-formats-draft2019 ships no types: it adds the draft 2019-09 formats (iri, idn-email, ...).
declare module 'ajv-formats-draft2019' {
  const addFormats: (ajv: unknown, options?: { formats?: string[] }) => unknown;
  export default addFormats;
}
