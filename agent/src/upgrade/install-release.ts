import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  AGENT_RELEASE_API_PATH,
  FerryError,
  PRIVATE_DIR_MODE,
  type ReleaseDescriptor,
  type ReleaseSigningKey,
  verifyReleaseSignature,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { signAgentToken } from '../cloud/agent-token.js';
import { normalizeServerUrl } from '../cloud/client.js';
import { fsyncDir } from '../data-dir.js';
import { releasePaths } from './release-store.js';

const run = promisify(execFile);

/** The files a release must hold for the supervisor to run it. */
const RELEASE_FILES = ['node', 'ferry-agent.mjs', 'VERSION'];

export interface InstallReleaseOptions {
  dataDir: string;
  server: string;
  auth: { gatewayId: string; privateJwk: JWK };
  signingKey: ReleaseSigningKey | undefined;
  release: ReleaseDescriptor;
  signal?: AbortSignal;
}

function rejected(message: string, cause?: unknown): FerryError {
  return new FerryError('agent_release.rejected', message, cause === undefined ? undefined : { cause });
}

/**
 * Downloads the release from the control plane (with the gateway's agent token), checks its size,
 * SHA-256 and the release signature over version and hash before anything is unpacked, and unpacks it
 * to DATA/releases/<version>/. Returns that directory. Nothing else of the data directory is touched.
 */
export async function installRelease(opts: InstallReleaseOptions): Promise<string> {
  const { release, dataDir } = opts;
  // The signature first: a descriptor the key never signed is not worth a download.
  if (!opts.signingKey)
    throw rejected('this gateway holds no release signing key (enrolled before releases were signed)');
  if (!verifyReleaseSignature(opts.signingKey, release.version, release.sha256, release.signature))
    throw rejected(`the signature of release ${release.version} is not the control plane's release key's`);
  const paths = releasePaths(dataDir);
  await mkdir(paths.root, { recursive: true, mode: PRIVATE_DIR_MODE });
  const work = join(paths.root, `.incoming-${process.pid}-${Date.now()}`);
  await mkdir(work, { mode: PRIVATE_DIR_MODE });
  try {
    const tarball = join(work, 'release.tar.gz');
    const sha256 = await download(opts, tarball);
    const size = (await stat(tarball)).size;
    if (size !== release.size || sha256 !== release.sha256)
      throw rejected(
        `the downloaded release is ${size} bytes with SHA-256 ${sha256}, not the signed ${release.size} bytes ${release.sha256}`,
      );
    const unpacked = join(work, 'unpacked');
    await mkdir(unpacked, { mode: PRIVATE_DIR_MODE });
    // --no-same-owner/-permissions: the service user owns what it unpacks, with its umask.
    await run('tar', ['-xzf', tarball, '-C', unpacked, '--no-same-owner', '--no-same-permissions'], {
      signal: opts.signal,
    });
    const entries = await readdir(unpacked);
    const expected = `ferry-agent-${release.version}-linux-x64`;
    if (entries.length !== 1 || entries[0] !== expected)
      throw rejected(
        `the release holds ${entries.join(', ') || 'nothing'}, not the one directory ${expected}`,
      );
    const dir = join(unpacked, expected);
    for (const f of RELEASE_FILES)
      await stat(join(dir, f)).catch((cause: unknown) => {
        throw rejected(`the release lacks ${f}`, cause);
      });
    const target = paths.dirOf(release.version);
    await rm(target, { recursive: true, force: true });
    await rename(dir, target);
    await fsyncDir(paths.root);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function download(opts: InstallReleaseOptions, file: string): Promise<string> {
  const server = normalizeServerUrl(opts.server);
  const token = await signAgentToken({ ...opts.auth, audience: server });
  let res: Response;
  try {
    res = await fetch(`${server}${AGENT_RELEASE_API_PATH}`, {
      headers: { authorization: `Bearer ${token}` },
      redirect: 'error',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (cause) {
    throw new FerryError('control.unreachable', `cannot download the release from ${server}`, { cause });
  }
  if (!res.ok || !res.body)
    throw new FerryError('control.bad_response', `the release download answered HTTP ${res.status}`);
  const hash = createHash('sha256');
  let bytes = 0;
  const limit = opts.release.size;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      // More than was signed: stop at once rather than fill the disk.
      if (bytes > limit) return done(rejected(`the download is longer than the signed ${limit} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as never), tap, createWriteStream(file, { mode: 0o600 }));
  return hash.digest('hex');
}
