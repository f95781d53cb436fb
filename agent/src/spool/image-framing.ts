/**
 * The data frames of an image object (shared image-frames.ts), cut from the received stream as it
 * arrives: each planned pixel band (pixel-bands.ts) goes to the JPEG-LS worker pool and is sealed as
 * a JPEG-LS frame, or as zstd when the pool gives no verified frame; every other byte (the Part-10
 * header, the dataset around Pixel Data, and whatever the bands leave) is sealed in zstd frames of
 * ZSTD_FRAME_BYTES, compressed on the thread pool (raw when that does not shrink them). Frames are
 * sealed in stream order, with at most MAX_IN_FLIGHT of them coding at once; the writer's queue and
 * its socket backpressure stay as they are.
 */
import {
  type CodedFrame,
  type CompressedFrame,
  jpegLsCoded,
  type ObjectSealer,
  rawCoded,
  zstdCoded,
} from '@ferry/shared';
import { releaseBuffers } from './buffer-release.js';
import type { BandCodec } from './image-codec-pool.js';
import type { PlannedBand } from './pixel-bands.js';

/** Frames coding at once per object: a band is at most 1 MiB, kept raw as well until it is sealed. */
export const MAX_IN_FLIGHT = 4;

/** A planned band placed in the stream: its first byte's offset in the Part-10 bytes. */
export interface StreamBand extends PlannedBand {
  start: number;
}

/** What the writer lends the framing: its queue of received bytes, and its output. */
export interface FrameSource {
  /** Bytes queued now. */
  queued(): number;
  /** Whether the dataset has ended (nothing more will be queued). */
  ended(): boolean;
  /** Whether the writer failed or was aborted: stop at once. */
  stopped(): boolean;
  /** Up to `limit` queued bytes, in order. */
  take(limit: number): Buffer[];
  /** Resolves once `bytes` are queued, the dataset ended, or the writer stopped. */
  waitFor(bytes: number): Promise<void>;
  /** zstd-1 on the thread pool (or at once when small); rejects only on a zstd failure. */
  compress(parts: Buffer[]): Promise<CompressedFrame>;
  writeOut(buffers: Buffer[]): Promise<void>;
}

/** How an image object's data frames were coded. */
export interface ImageCodingCounts {
  jpegLsFrames: number;
  /** Planned bands sealed as zstd (or raw) because the codec gave no verified frame. */
  fallbackFrames: number;
  /** Codec time in the workers, for every band sent there. */
  codecMs: number;
}

interface InFlight {
  coded: Promise<CodedFrame>;
  /** Released once the frame is sealed. */
  buffers: Buffer[];
}

export async function pumpImageFrames(
  src: FrameSource,
  sealer: ObjectSealer,
  bands: readonly StreamBand[],
  codec: BandCodec,
  zstdFrameBytes: number,
): Promise<ImageCodingCounts> {
  const counts: ImageCodingCounts = { jpegLsFrames: 0, fallbackFrames: 0, codecMs: 0 };
  const flight: InFlight[] = [];
  let pos = 0;
  let next = 0;
  // What the next frame takes: a band, or zstd bytes up to the next band.
  const want = (): { bytes: number; band?: StreamBand } => {
    const band = bands[next];
    if (!band) return { bytes: zstdFrameBytes };
    if (pos === band.start) return { bytes: band.length, band };
    return { bytes: Math.min(zstdFrameBytes, band.start - pos) };
  };
  const zstd = (parts: Buffer[]): InFlight => {
    const coded = src.compress(parts).then((frame) => zstdCoded(frame, parts));
    coded.catch(() => undefined);
    return { coded, buffers: parts };
  };
  const band = (parts: Buffer[], b: StreamBand): InFlight => {
    // One buffer of its own, transferred to the worker; `parts` stay for a zstd fallback.
    const raw = Buffer.allocUnsafeSlow(b.length);
    let at = 0;
    for (const p of parts) at += p.copy(raw, at);
    const coded = codec.encode(raw, b.band).then(({ frame, ms }) => {
      counts.codecMs += ms;
      if (frame) {
        counts.jpegLsFrames++;
        return { frame: jpegLsCoded(frame, b.length) };
      }
      counts.fallbackFrames++;
      return undefined;
    });
    const out = coded.then((r) => r?.frame ?? zstd(parts).coded);
    out.catch(() => undefined);
    return { coded: out, buffers: parts };
  };
  for (;;) {
    if (src.stopped()) return counts;
    while (flight.length < MAX_IN_FLIGHT) {
      const w = want();
      const ready = src.queued();
      if (ready >= w.bytes || (src.ended() && ready > 0)) {
        const parts = src.take(w.bytes);
        const got = parts.reduce((n, p) => n + p.length, 0);
        pos += got;
        if (w.band && got === w.bytes) {
          next++;
          flight.push(band(parts, w.band));
        } else {
          // A dataset that ended inside a band: what came of it goes as zstd, and no band follows.
          if (w.band) next = bands.length;
          flight.push(zstd(parts));
        }
      } else break;
    }
    const head = flight.shift();
    if (head) {
      const frame = await head.coded;
      if (src.stopped()) return counts;
      const final = flight.length === 0 && src.ended() && src.queued() === 0;
      const sealed = sealer.sealCoded(frame, final);
      // The sealed copy is made: the raw parts and the coded payload (zstd, JPEG-LS or those parts).
      releaseBuffers([...head.buffers, ...frame.parts.slice(1)]);
      await src.writeOut(sealed);
      if (final) return counts;
    } else if (src.ended()) {
      await src.writeOut(sealer.sealCoded(rawCoded([]), true));
      return counts;
    } else {
      await src.waitFor(want().bytes);
    }
  }
}
