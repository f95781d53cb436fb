import { performance } from 'node:perf_hooks';
import type { PixelBand } from '@ferry/shared';
import { ImageCodecPool } from './image-codec-pool.js';

const BAND: PixelBand = {
  width: 512,
  height: 256,
  components: 1,
  sampleBytes: 2,
  bigEndian: false,
  signed: false,
};

/**
 * Starts one image codec worker the way the spool does (its module and CharLS's .wasm found the same
 * way) and codes a synthetic 256 KiB band: the installer's check that a release can code images.
 * Undefined frame = the spool would send pixel data as zstd.
 */
export async function probeImageCodec(): Promise<{ coded: boolean; rawBytes: number; ms: number }> {
  const raw = Buffer.allocUnsafeSlow(BAND.width * BAND.height * 2);
  for (let i = 0; i < raw.length; i += 2) raw.writeUInt16LE((((i >> 10) ^ (i >> 3)) & 0x3ff) + 1000, i);
  const rawBytes = raw.length;
  const pool = new ImageCodecPool({ size: 1 });
  const started = performance.now();
  try {
    const { frame } = await pool.encode(raw, BAND);
    return { coded: frame !== undefined, rawBytes, ms: performance.now() - started };
  } finally {
    await pool.close();
  }
}
