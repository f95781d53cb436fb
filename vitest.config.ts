import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: { '@ferry/shared': fileURLToPath(new URL('./shared/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['{shared,agent,control-plane,testkit,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['./test/setup/real-services.ts'],
    // Cross-process tests share the 2-core machine; run files one at a time so timing faults stay honest.
    fileParallelism: false,
  },
});
