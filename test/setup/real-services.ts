// Vitest global setup: the real S3 server the tests need. When FERRY_TEST_S3_* is not set (a plain
// `npm test` on a fresh machine), start the single-node radosgw with scripts/radosgw.sh (idempotent;
// it installs Debian's packages the first time) and export its settings to the test workers, which
// are forked after this runs. If it cannot be started the run fails here, naming why.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/radosgw.sh', import.meta.url));

export default function setup(): void {
  if (process.env.FERRY_TEST_S3_ENDPOINT) return;
  try {
    execFileSync(script, ['start'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
    const exports = execFileSync(script, ['env'], { encoding: 'utf8' });
    for (const m of exports.matchAll(/^export (FERRY_TEST_S3_[A-Z_]+)=(.*)$/gm)) {
      if (m[1] && m[2] !== undefined) process.env[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
    }
  } catch (err) {
    throw new Error(
      `the tests need a real S3 server and scripts/radosgw.sh could not start one: ${String(err)}`,
    );
  }
  if (!process.env.FERRY_TEST_S3_ENDPOINT)
    throw new Error('scripts/radosgw.sh env printed no FERRY_TEST_S3_ENDPOINT');
}
