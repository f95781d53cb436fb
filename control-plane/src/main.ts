import { parseArgs } from 'node:util';
import { isFerryError } from '@ferry/shared';
import { generateKeys } from './cli/keys.js';

const USAGE = `usage: ferry-control-plane <command>
  keys generate --out DIR   create the control plane's X25519 encryption key pair
`;

async function main(argv: string[]): Promise<void> {
  const [group, verb, ...rest] = argv;
  if (group === 'keys' && verb === 'generate') {
    const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
    if (!values.out) throw new Error('--out is required');
    const { publicPath, privatePath } = await generateKeys(values.out);
    process.stdout.write(`public key:  ${publicPath}\nprivate key: ${privatePath} (keep it secret)\n`);
    return;
  }
  process.stderr.write(USAGE);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `ferry-control-plane: ${isFerryError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`,
  );
  process.exitCode = 1;
});
