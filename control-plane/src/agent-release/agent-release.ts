import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { basename } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { FerryError, type ReleaseDescriptor, releaseVersionFromDirName } from '@ferry/shared';
import type { ReleaseSigner } from '../keys/release-signing-key.js';

/** The stable name the release is downloaded under: the URL in every install line. */
export const AGENT_RELEASE_NAME = 'ferry-agent-linux-x64.tar.gz';
/** Where the control plane serves it (no sign-in); its SHA-256 is at the same path plus `.sha256`. */
export const AGENT_RELEASE_PATH = `/downloads/${AGENT_RELEASE_NAME}`;

export interface AgentReleaseInfo {
  size: number;
  /** SHA-256 of the bytes served, hex: what install lines check with sha256sum. */
  sha256: string;
  modifiedAt: Date;
  /** The version in the tarball's directory name (ferry-agent-<version>-linux-x64/); undefined if none. */
  version: string | undefined;
}

export interface OpenedAgentRelease extends AgentReleaseInfo {
  /** The open file the hash was taken from; the caller streams it and closes it. */
  handle: FileHandle;
}

/**
 * The agent release this control plane serves (FERRY_AGENT_RELEASE, a tarball as `npm run bundle:agent`
 * writes it). The file is looked at on every call, so a release built or replaced while the control
 * plane runs is served at once; its hash is computed here from the bytes on disk (not taken from a
 * .sha256 file that could be stale) and reused while the file is the same one.
 */
export class AgentRelease {
  readonly path: string;
  readonly #signer: ReleaseSigner | undefined;
  #cache: { identity: string; sha256: Promise<string>; version: Promise<string | undefined> } | undefined;

  constructor(path: string, signer?: ReleaseSigner) {
    this.path = path;
    this.#signer = signer;
  }

  /** The release signing key's public half, which enrollment hands to gateways; undefined unsigned. */
  get signingKey(): ReleaseSigner['publicJwk'] | undefined {
    return this.#signer?.publicJwk;
  }

  /**
   * What a gateway is sent to upgrade: version, size, hash and the signature over version and hash.
   * agent_release.missing when there is no release, or it is unsigned or carries no version.
   */
  async descriptor(): Promise<ReleaseDescriptor> {
    const info = await this.info();
    if (!this.#signer || !info.version)
      throw new FerryError(
        'agent_release.missing',
        info.version
          ? 'this control plane has no release signing key'
          : `${basename(this.path)} holds no ferry-agent-<version>-linux-x64/ directory`,
      );
    return {
      version: info.version,
      sha256: info.sha256,
      size: info.size,
      signature: this.#signer.sign(info.version, info.sha256),
    };
  }

  /** Size, hash and date of the release; agent_release.missing when there is none. */
  async info(): Promise<AgentReleaseInfo> {
    const { handle, ...info } = await this.open();
    await handle.close();
    return info;
  }

  /**
   * Opens the release and hashes the opened file, so what is streamed from the handle is exactly what
   * the hash describes (a new release replaces the file by rename and leaves this one intact).
   */
  async open(): Promise<OpenedAgentRelease> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch (cause) {
      throw new FerryError(
        'agent_release.missing',
        `this control plane has no agent release at ${basename(this.path)} ` +
          '(build one with npm run bundle:agent, or point FERRY_AGENT_RELEASE at one)',
        { cause },
      );
    }
    try {
      const st = await handle.stat();
      if (!st.isFile())
        throw new FerryError('agent_release.missing', 'FERRY_AGENT_RELEASE does not name a regular file');
      const identity = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      if (this.#cache?.identity !== identity) {
        const sha256 = hashHandle(handle, st.size);
        const version = readVersion(handle);
        this.#cache = { identity, sha256, version };
        sha256.catch(() => {
          if (this.#cache?.sha256 === sha256) this.#cache = undefined;
        });
      }
      return {
        handle,
        size: st.size,
        sha256: await this.#cache.sha256,
        version: await this.#cache.version,
        modifiedAt: st.mtime,
      };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}

/** SHA-256 of the first `size` bytes of an open file, read by position so the handle stays at 0. */
async function hashHandle(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (let position = 0; position < size; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

/**
 * The release's version from its first tar entry, the directory `ferry-agent-<version>-linux-x64/`
 * the bundle script writes: only the gzip stream's first block is inflated, not the release.
 */
async function readVersion(handle: FileHandle): Promise<string | undefined> {
  const head = Buffer.alloc(16 << 10);
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  let tar: Buffer;
  try {
    tar = gunzipSync(head.subarray(0, bytesRead), { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return undefined;
  }
  if (tar.length < 512) return undefined;
  const field = (start: number, length: number) =>
    tar
      .subarray(start, start + length)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  // ustar keeps long paths' leading part in `prefix` (offset 345).
  const prefix = tar.subarray(257, 262).toString('latin1') === 'ustar' ? field(345, 155) : '';
  const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
  return releaseVersionFromDirName(name.split('/')[0] ?? '');
}
