// The real DICOM images under test/data/real, as listed by its manifest.json (provenance in its
// README.md). No vitest here, so benchmarks can use it too.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const realDataDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'real');

export interface RealDataSource {
  registry: 'npm' | 'debian';
  package: string;
  version: string;
  /** Path inside the npm tarball or the .deb's file tree. */
  path: string;
  /** SHA-256 of that file as the package ships it (equals the entry's own unless `derivedBy` is set). */
  sha256: string;
}

export interface RealDataFile {
  /** Relative to realDataDir. */
  path: string;
  sha256: string;
  bytes: number;
  /** Group name: one folder, one acquisition. */
  series: string;
  modality: string;
  transferSyntaxUID: string;
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  frames: number;
  photometricInterpretation: string;
  source: RealDataSource;
  /** Key into `licences`. */
  licence: string;
  /** Set when the file is a lossless transcoding of the packaged one: the tool and command. */
  derivedBy?: string;
}

export interface RealDataLicence {
  spdx: string;
  /** Licence texts, relative to realDataDir. */
  files: string[];
  note: string;
}

export interface RealDataManifest {
  description: string;
  licences: Record<string, RealDataLicence>;
  files: RealDataFile[];
}

/** The uncompressed little endian syntaxes, the ones a pixel codec is fed from. */
export const NATIVE_LITTLE_ENDIAN = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

/** Reads manifest.json. Its shape is proven by real-data-manifest.test.ts, not re-checked here. */
export function realDataManifest(): RealDataManifest {
  return JSON.parse(readFileSync(join(realDataDir, 'manifest.json'), 'utf8')) as RealDataManifest;
}

/** Absolute paths of the manifest's files that pass `keep`, e.g. native little endian CT. */
export function realDataFiles(keep: (f: RealDataFile) => boolean = () => true): string[] {
  return realDataManifest()
    .files.filter(keep)
    .map((f) => join(realDataDir, f.path));
}
