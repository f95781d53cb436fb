// What DICOMweb frames and bulk data must hold for a set of Part-10 files, read by pydicom (an
// independent reader: the control plane parses with dcmjs). See pixel_frames.py.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'pixel_frames.py');
/** Debian's python3 (has pydicom and numpy); the first python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';

export interface Digest {
  sha256: string;
  length: number;
}

export interface ExpectedPixels {
  file: string;
  sopInstanceUid: string;
  transferSyntax: string;
  hasPixelData: boolean;
  /** Top-level elements (tag 'GGGGEEEE') with a binary VR and a value: metadata must carry each. */
  binaryTags: string[];
  numberOfFrames?: number;
  encapsulated?: boolean;
  /** The Pixel Data value as stored (with an encapsulated one's item headers). */
  pixelData?: Digest;
  /** Native only: the Pixel Data value in little endian byte order. */
  pixelDataLe?: Digest;
  /** Encapsulated only: every fragment joined (no item headers, no offset table). */
  fragments?: Digest;
  /**
   * By frame number (every frame of a single-frame instance, first and last of a multi-frame one):
   * the frame as stored; native ones also in little endian byte order.
   */
  frames?: Record<string, Digest & { leSha256?: string }>;
}

/** Reads every file in one python process. */
export function expectedPixels(files: string[]): Promise<ExpectedPixels[]> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [SCRIPT, ...files],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`pixel_frames.py failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as ExpectedPixels[]);
      },
    );
  });
}
