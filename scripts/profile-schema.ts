// Regenerates device-profiles/schema.json from the zod definition (src/device/profile.ts).
// Run: node --import tsx scripts/profile-schema.ts   (test/device/profile.test.ts checks it is current)
import fs from 'node:fs';
import path from 'node:path';
import { PROFILES_DIR, profileJsonSchema } from '../src/device/profile.js';

fs.writeFileSync(path.join(PROFILES_DIR, 'schema.json'), `${JSON.stringify(profileJsonSchema(), null, 2)}\n`);
