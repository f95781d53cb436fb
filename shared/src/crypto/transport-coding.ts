/**
 * How a sealed object travelled: its compression and what its data frames were coded with, counted
 * from openObject's data parts. The control plane counts it when it opens an object at ingest and
 * keeps it on the instance row (`instances.transport_coding`): what the image codec did is then a
 * fact of the index, not a claim of the agent.
 */
import type { DataFrameCodec, ObjectCompression } from './open.js';

export interface TransportCoding {
  compression: ObjectCompression;
  /** Data frames carried as they are ('none' objects, raw frames of 'image' objects). */
  rawFrames: number;
  zstdFrames: number;
  /** JPEG-LS frames: each a band of native pixel rows ('image' objects only). */
  jpeglsFrames: number;
  /** Bytes of the original the JPEG-LS frames decoded to. */
  jpeglsBytes: number;
}

/** Counts the data frames of one object as they are opened. */
export class TransportTally {
  private rawFrames = 0;
  private zstdFrames = 0;
  private jpeglsFrames = 0;
  private jpeglsBytes = 0;

  add(codec: DataFrameCodec, rawBytes: number): void {
    if (codec === 'jpegls') {
      this.jpeglsFrames++;
      this.jpeglsBytes += rawBytes;
    } else if (codec === 'zstd') this.zstdFrames++;
    else this.rawFrames++;
  }

  summary(compression: ObjectCompression): TransportCoding {
    const { rawFrames, zstdFrames, jpeglsFrames, jpeglsBytes } = this;
    return { compression, rawFrames, zstdFrames, jpeglsFrames, jpeglsBytes };
  }
}
