/**
 * Writes ensemble.schema.json (the JSON Schema of ensemble files) from the one schema
 * definition in src/ensemble/ensemble-schema.ts: `npm run schema`. A test fails when the
 * committed file differs from what this writes.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ensembleJsonSchema } from '../src/ensemble/ensemble-schema.js';

const out = fileURLToPath(new URL('../ensemble.schema.json', import.meta.url));
await writeFile(out, `${JSON.stringify(ensembleJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${out}\n`);
