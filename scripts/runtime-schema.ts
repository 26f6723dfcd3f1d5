/**
 * Writes schemas/runtime-config.schema.json from the zod tree in src/core/runtime-config.ts.
 * Run: node --import tsx scripts/runtime-schema.ts
 */
import { writeFile } from 'node:fs/promises';
import { configJsonSchema } from '../src/core/runtime-config.js';

await writeFile('schemas/runtime-config.schema.json', `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
