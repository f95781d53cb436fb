/**
 * The one door to dcmjs (pinned at 0.51: 0.52 needs Node 22). dcmjs ships no types, so this module
 * loads it through `require` and describes the small part Ferry uses. `DicomMessage._read` is not
 * public API; it is used because it reads a dataset from any offset with one syntax, which the
 * public `readFile` cannot do for a deflated dataset without inflating all of it.
 */
import { createRequire } from 'node:module';

export interface DcmjsElement {
  vr: string | number;
  Value?: unknown;
  _rawValue?: unknown;
}
export type DcmjsDict = Record<string, DcmjsElement>;

export interface DcmjsReadStream {
  offset: number;
  size: number;
  end(): boolean;
}

export interface DcmjsReadOptions {
  ignoreErrors: boolean;
  untilTag: string | null;
  includeUntilTagValue: boolean;
}

export interface DcmjsDicomDict {
  meta: DcmjsDict;
  dict: DcmjsDict;
  write(options?: Record<string, unknown>): ArrayBuffer;
}

interface Dcmjs {
  log: { setLevel(level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'): void };
  data: {
    /** Looked up by tag, `(GGGG,EEEE)` in upper case; repeating groups (60xx) resolve too. */
    DicomMetaDictionary: { dictionary: Record<string, { vr: string } | undefined> };
    ReadBufferStream: new (
      buffer: ArrayBuffer,
      littleEndian: boolean | null,
      options?: { noCopy?: boolean },
    ) => DcmjsReadStream;
    DicomMessage: {
      _read(stream: DcmjsReadStream, syntax: string, options: DcmjsReadOptions): DcmjsDict;
      readFile(
        buffer: ArrayBuffer,
        options?: Partial<DcmjsReadOptions> & { noCopy?: boolean },
      ): DcmjsDicomDict;
    };
  };
}

export const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;
// Its logger warns on every recoverable parse problem; we report those ourselves.
dcmjs.log.setLevel('error');

/** An ArrayBuffer holding exactly `bytes` (dcmjs reads ArrayBuffers, not Node buffers). */
export function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  )
    return bytes.buffer;
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}
