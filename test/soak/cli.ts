// `npm run soak -- --duration 30m [--seed N] [--big-bytes 1GiB] [--senders 3] [--fresh-bytes 512MiB]
// [--compression auto|image|zstd|none] [--out DIR]`: runs the soak (soak.ts), prints the summary table, writes it to bench/results/ and
// exits 1 when any check failed.
import { parseArgs } from 'node:util';
import startRealServices from '../setup/real-services.js';
import { DEFAULT_BIG_BYTES, parseBytes, parseDuration, SOAK_DEFAULTS } from './options.js';
import { runSoak } from './soak.js';

const USAGE =
  'usage: npm run soak -- --duration 90s|30m|1h [--seed N] [--big-bytes 1GiB] [--senders N] [--fresh-bytes 512MiB] [--compression auto|image|zstd|none] [--out DIR]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      seed: { type: 'string' },
      'big-bytes': { type: 'string' },
      senders: { type: 'string' },
      'fresh-bytes': { type: 'string' },
      compression: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.duration) {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  // The same real S3 server the tests use (started here when FERRY_TEST_S3_* is not set).
  startRealServices();
  const seed = values.seed ? Number(values.seed) : SOAK_DEFAULTS.seed;
  const sliceSenders = values.senders ? Number(values.senders) : SOAK_DEFAULTS.sliceSenders;
  const compression = values.compression ?? 'auto';
  if (
    !Number.isInteger(seed) ||
    !Number.isInteger(sliceSenders) ||
    sliceSenders < 1 ||
    !['auto', 'image', 'zstd', 'none'].includes(compression)
  ) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  const result = await runSoak({
    durationMs: parseDuration(values.duration),
    seed,
    sliceSenders,
    bigBytes: values['big-bytes'] ? parseBytes(values['big-bytes']) : DEFAULT_BIG_BYTES,
    ...(values['fresh-bytes'] ? { freshBytes: parseBytes(values['fresh-bytes']) } : {}),
    compression,
    ...(values.out ? { resultsDir: values.out } : {}),
  });
  if (result.files) console.log(`results written to ${result.files.md} and ${result.files.json}`);
  if (result.violations.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
