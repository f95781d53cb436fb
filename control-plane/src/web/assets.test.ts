import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS } from './assets.js';

const webDir = fileURLToPath(new URL('.', import.meta.url));

describe('console assets', () => {
  it('lists every browser script, stylesheet and icon under src/web, and nothing that is not there', () => {
    const onDisk = readdirSync(webDir, { recursive: true, encoding: 'utf8' })
      .map((f) => f.split('\\').join('/'))
      .filter((f) => /\.(client\.js|css|svg)$/.test(f))
      .sort();
    expect(Object.values(CONSOLE_ASSETS).sort()).toEqual(onDisk);
  });
});
