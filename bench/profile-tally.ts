// Prints and rewrites the stage tables of profiled bench rows (FERRY_BENCH_PROFILE=1) from their kept
// profiles, after a change to bench/lib/profile-stages.ts, without running the bench again:
//   npx tsx bench/profile-tally.ts bench/results/profiles/upload-fs-postgres-ct-300 [more dirs]
import { tallyRow } from './lib/profile-run.js';

async function main(): Promise<void> {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) throw new Error('usage: profile-tally.ts <profile row directory>...');
  for (const dir of dirs) await tallyRow(dir);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
