/**
 * A small agent release for in-process tests: a real gzipped tarball (made by tar, like the bundle's)
 * of a directory holding a VERSION file, made once per process in a temp directory and removed at exit.
 * The control plane only serves and hashes the release; the real bundle is built and installed by
 * test/e2e/infra.int.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateReleaseSigningKey, signRelease } from '@ferry/shared';
import { AGENT_RELEASE_NAME } from '../../control-plane/src/agent-release/agent-release.js';
import type { ReleaseSigner } from '../../control-plane/src/keys/release-signing-key.js';

let made: string | undefined;

/** The path of this process's test release tarball, made on first use. */
export function testAgentReleaseFile(): string {
  if (made) return made;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-test-release-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const content = join(dir, 'ferry-agent-0.0.0-test-linux-x64');
  mkdirSync(content);
  writeFileSync(join(content, 'VERSION'), `version=0.0.0-test\nnonce=${randomBytes(8).toString('hex')}\n`);
  execFileSync('tar', ['-C', dir, '-czf', join(dir, AGENT_RELEASE_NAME), 'ferry-agent-0.0.0-test-linux-x64']);
  made = join(dir, AGENT_RELEASE_NAME);
  return made;
}

let signer: ReleaseSigner | undefined;

/** A release signing key for in-process apps, one per process, as the server keeps one per key file. */
export function testReleaseSigner(): ReleaseSigner {
  if (signer) return signer;
  const { privateJwk, publicJwk } = generateReleaseSigningKey();
  signer = { publicJwk, sign: (version, sha256) => signRelease(privateJwk, version, sha256) };
  return signer;
}
