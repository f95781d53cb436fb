import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { basename } from 'node:path';
import { FerryError } from '@ferry/shared';

/** The stable name the release is downloaded under: the URL in every install line. */
export const AGENT_RELEASE_NAME = 'ferry-agent-linux-x64.tar.gz';
/** Where the control plane serves it (no sign-in); its SHA-256 is at the same path plus `.sha256`. */
export const AGENT_RELEASE_PATH = `/downloads/${AGENT_RELEASE_NAME}`;

export interface AgentReleaseInfo {
  size: number;
  /** SHA-256 of the bytes served, hex: what install lines check with sha256sum. */
  sha256: string;
  modifiedAt: Date;
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
  #cache: { identity: string; sha256: Promise<string> } | undefined;

  constructor(path: string) {
    this.path = path;
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
        this.#cache = { identity, sha256 };
        sha256.catch(() => {
          if (this.#cache?.sha256 === sha256) this.#cache = undefined;
        });
      }
      return { handle, size: st.size, sha256: await this.#cache.sha256, modifiedAt: st.mtime };
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
