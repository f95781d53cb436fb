#!/usr/bin/env node
// After tsc: copies the console's browser files (src/web/**, listed in CONSOLE_ASSETS) into dist/web,
// beside the compiled pages that serve them. tsc compiles only TypeScript; without this the built
// control plane would answer 404 for every script and stylesheet.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const { CONSOLE_ASSETS } = await import('../dist/web/assets.js');
const src = fileURLToPath(new URL('../src/web/', import.meta.url));
const dist = fileURLToPath(new URL('../dist/web/', import.meta.url));
for (const file of Object.values(CONSOLE_ASSETS)) {
  await mkdir(dirname(`${dist}${file}`), { recursive: true });
  await copyFile(`${src}${file}`, `${dist}${file}`);
}
