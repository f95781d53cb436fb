import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Tests that start processes, open sockets to real peers or drive Chromium. */
const CROSS_PROCESS = ['**/*.int.test.ts', 'test/e2e/**/*.test.ts'];

export default defineConfig({
  resolve: {
    alias: { '@ferry/shared': fileURLToPath(new URL('./shared/src/index.ts', import.meta.url)) },
  },
  test: {
    // No include or exclude here: a project that extends this config would add to them, not replace them.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['./test/setup/real-services.ts'],
    projects: [
      {
        extends: true,
        // In-process tests (units, routes on PGlite and a cloned PostgreSQL database each) use both
        // cores, and finish before the cross-process ones start.
        test: {
          name: 'in-process',
          include: ['{shared,agent,control-plane,testkit,test}/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...CROSS_PROCESS],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        // Cross-process tests share the 2-core machine; run files one at a time so timing faults stay honest.
        test: {
          name: 'cross-process',
          include: CROSS_PROCESS,
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
