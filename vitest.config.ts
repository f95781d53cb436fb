import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Tests that start processes, open sockets to real peers or drive Chromium. */
const CROSS_PROCESS = ['**/*.int.test.ts', 'test/e2e/**/*.test.ts'];
/**
 * Cross-process tests that run two files at a time: the agent's, the control plane's and the
 * harness's own, and end-to-end files with one agent or cloud, little data and no assertion on how
 * long anything took. Each mostly waits on its processes, sockets and timers, so two overlap their
 * waits; none uses a fixed port or a shared directory (free ports, its own scratch directory,
 * database and bucket; corpora and the database seed are published by rename). Chromium, faults
 * injected on a clock or a link, floods, memory bounds and big corpora stay one file at a time.
 */
const PAIRED_CROSS_PROCESS = [
  'agent/src/**/*.int.test.ts',
  'control-plane/src/*.int.test.ts',
  'control-plane/src/{keys,routes,services,storage,ws}/**/*.int.test.ts',
  'test/harness/*.int.test.ts',
  'test/e2e/{charset-names,doctor,enroll,faults-truncated-dataset,private-files}.int.test.ts',
  'test/e2e/{spool-lock,storage-commitment,transfer-syntax-negotiation,upload-https}.int.test.ts',
  'test/e2e/charset-pydicom.test.ts',
];

export default defineConfig({
  resolve: {
    alias: { '@ferry/shared': fileURLToPath(new URL('./shared/src/index.ts', import.meta.url)) },
  },
  test: {
    // No include or exclude here: a project that extends this config would add to them, not replace them.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    globalSetup: ['./test/setup/real-services.ts'],
    // Password hashes at scrypt N=2^10 rather than production's 2^17 (a third of a second and 128 MiB
    // each), in the test kit's apps and in the control planes tests spawn (they inherit this
    // environment): thousands of sign-ins would otherwise dominate the run. Production cost is still
    // proven by password.test.ts (which does not apply this), env.test.ts and auth.test.ts's rehash.
    env: { FERRY_PASSWORD_COST: '10' },
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
        test: {
          name: 'cross-process (paired)',
          include: PAIRED_CROSS_PROCESS,
          exclude: ['**/node_modules/**', '**/dist/**'],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        // Cross-process tests share the 2-core machine; run files one at a time so timing faults stay honest.
        test: {
          name: 'cross-process',
          include: CROSS_PROCESS,
          exclude: ['**/node_modules/**', '**/dist/**', ...PAIRED_CROSS_PROCESS],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
