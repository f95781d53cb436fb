import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ControlPlaneClient } from '../cloud/client.js';
import { UploadClient } from '../uploader/upload-client.js';

export interface UploadTestResult {
  ok: boolean;
  bytes: number;
  /** From asking for the URL to the control plane's verdict. */
  ms: number;
  /** Bytes per second of the PUT alone. */
  putBytesPerSecond: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * The upload round trip: random bytes PUT to a presigned URL the way the uploader sends parts, then
 * read back and compared by the control plane. Errors (FerryErrors from the client or the PUT)
 * propagate; a stored object that differs is `ok: false`.
 */
export async function runUploadTest(
  control: ControlPlaneClient,
  /** `dispatcher`: where the PUT's connections go (tests route a made-up host to a local server). */
  opts: { timeoutMs?: number; dispatcher?: Dispatcher } = {},
): Promise<UploadTestResult> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const t0 = performance.now();
  const started = await control.startUploadTest(signal);
  const body = randomBytes(started.bytes);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const putStart = performance.now();
  await new UploadClient(control, opts.dispatcher ? { dispatcher: opts.dispatcher } : {}).putPart(
    started.url,
    Readable.from([body]),
    body.length,
    signal,
  );
  const putMs = Math.max(1, performance.now() - putStart);
  const verdict = await control.verifyUploadTest(started.testId, sha256, signal);
  return {
    ok: verdict.ok && verdict.bytes === started.bytes,
    bytes: started.bytes,
    ms: Math.round(performance.now() - t0),
    putBytesPerSecond: Math.round((body.length / putMs) * 1000),
  };
}
