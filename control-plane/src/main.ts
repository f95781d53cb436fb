import { parseArgs } from 'node:util';
import { isFerryError, PRIVATE_UMASK, recipientKeyThumbprint } from '@ferry/shared';
import { pino } from 'pino';
import { generateKeys } from './cli/keys.js';
import { warmCodecPool } from './dicom/codec-pool.js';
import { loadEnv } from './env.js';
import { rotateRecipientKeys } from './keys/recipient-keys.js';
import { openConfiguredDatabase, startServer } from './server.js';

const USAGE = `usage: ferry-control-plane <command>
  serve                     run the HTTP API (settings from FERRY_* environment variables)
  migrate                   apply database migrations and exit
  keys generate --out DIR   create an X25519 encryption key pair in DIR
  keys rotate               add a new current key to FERRY_KEY_FILE (running replicas pick it up and
                            send it to the gateways); old keys keep decrypting
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
  if (group === 'keys' && verb === 'rotate') {
    const env = loadEnv();
    const keys = await rotateRecipientKeys(env.keyFile);
    process.stdout.write(
      `new current key ${keys.publicJwk.kid} (thumbprint ${await recipientKeyThumbprint(keys.publicJwk)}); ${keys.privateJwks.length} key(s) kept in ${env.keyFile}\n`,
    );
    return;
  }
  if (group === 'migrate') {
    const env = loadEnv();
    const database = await openConfiguredDatabase(env);
    await database.migrate();
    await database.close();
    process.stdout.write(`migrations applied (${database.kind})\n`);
    return;
  }
  if (group === 'serve') {
    const env = loadEnv();
    const log = pino({ name: 'ferry-control-plane', level: env.logLevel });
    const server = await startServer(env, log);
    // The codecs load in a worker now rather than on the first thumbnail (~1 s on a busy host).
    warmCodecPool();
    const stop = () => {
      server.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  process.stderr.write(USAGE);
  process.exitCode = 2;
}

// Before anything is written: the embedded database, blobs and keys are the service user's alone.
process.umask(PRIVATE_UMASK);
main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `ferry-control-plane: ${isFerryError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`,
  );
  process.exitCode = 1;
});
