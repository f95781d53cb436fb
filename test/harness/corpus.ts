// Test corpora: generated DICOM studies (cached under test/.work/corpus) and the pydicom samples.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const harnessDir = dirname(fileURLToPath(import.meta.url));

/** Absolute path of the monorepo root. */
export const repoRoot = resolve(harnessDir, '..', '..');
/** Scratch space for tests (gitignored): test/.work. */
export const workDir = join(repoRoot, 'test', '.work');
/** Where generated corpora are cached between runs. */
export const corpusDir = join(workDir, 'corpus');
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
export const pydicomSamplesDir = join(fixturesDir, 'dicom-samples', 'pydicom');
export const unsendableSamplesDir = join(fixturesDir, 'dicom-samples', 'unsendable');

/** Debian's python3 (has pydicom and numpy); the first python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';
const GENERATOR = join(harnessDir, 'generate_corpus.py');

export const CT_COUNT = 300;
export const SMALL_COUNT = 2000;

/** Patient names embedded in each generated corpus (grep targets for "no plaintext" checks). */
export const CORPUS_PATIENT_NAMES = {
  ct: 'FERRY^CTPATIENT',
  small: 'FERRY^SMALL',
  big: 'FERRY^BIGFRAME',
} as const;

const pending = new Map<string, Promise<string>>();

function generate(out: string, args: string[], timeoutMs: number): Promise<string> {
  const existing = pending.get(out);
  if (existing) return existing;
  const run = new Promise<string>((resolvePath, reject) => {
    // The generator writes to a temporary sibling and renames, so existence means complete.
    if (existsSync(out)) {
      resolvePath(out);
      return;
    }
    execFile(
      PYTHON,
      [GENERATOR, ...args, '--out', out],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error) {
          reject(new Error(`corpus generation failed (${args.join(' ')}): ${error.message}\n${stderr}`));
          return;
        }
        if (!existsSync(out)) {
          reject(new Error(`corpus generator exited 0 but ${out} is missing\n${stderr}`));
          return;
        }
        resolvePath(out);
      },
    );
  });
  pending.set(out, run);
  run.catch(() => pending.delete(out));
  return run;
}

/** 300-slice CT study (512x512, 16-bit, explicit VR LE, ~525 KB each, ~158 MB total). Returns the directory. */
export function ctCorpus(): Promise<string> {
  return generate(join(corpusDir, `ct-${CT_COUNT}`), ['ct', '--count', String(CT_COUNT)], 600_000);
}

/** 2000 small MR instances (64x64, ~9.3 KB each) in 4 series of one study. Returns the directory. */
export function smallCorpus(): Promise<string> {
  return generate(
    join(corpusDir, `small-${SMALL_COUNT}`),
    ['small', '--count', String(SMALL_COUNT)],
    600_000,
  );
}

/** One multi-frame 512x512x16-bit instance whose pixel data is >= `bytes`. Returns the file path. */
export function bigInstance(bytes: number): Promise<string> {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`bigInstance: bad size ${bytes}`);
  // ~1 GiB takes well under a minute on the dev box; allow for a slow disk.
  const timeoutMs = 120_000 + Math.ceil(bytes / (1024 * 1024)) * 1000;
  return generate(join(corpusDir, `big-${bytes}.dcm`), ['big', '--bytes', String(bytes)], timeoutMs);
}

/**
 * A CT phantom series (512x512, 12-bit, W 40/400): body, spine, and two discs that cross it from
 * slice to slice, so a viewer test can tell which slice is shown. Returns the directory.
 */
export function phantomCorpus(count = 20): Promise<string> {
  return generate(join(corpusDir, `phantom-${count}`), ['phantom', '--count', String(count)], 120_000);
}

/**
 * A copy of the pydicom sample `name` as a study of its own (new study, series and SOP Instance UIDs
 * derived from `key`; the rest, encapsulated pixel data included, unchanged): some samples are one
 * instance in several transfer syntaxes. Returns the file path.
 */
export function restampedSample(name: string, key: string): Promise<string> {
  return generate(
    join(corpusDir, `restamped-${key}.dcm`),
    ['restamp', '--src', join(pydicomSamplesDir, name), '--key', key],
    60_000,
  );
}

/** The .dcm files of a generated corpus directory (ctCorpus, smallCorpus), sorted by name. */
export async function corpusFiles(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((f) => join(dir, f));
}

export interface PydicomSample {
  /** Absolute path of the .dcm file. */
  file: string;
  /** storescu options that make it propose the file's own transfer syntax, e.g. ['-R', '-xs']; often []. */
  options: string[];
}

/**
 * The 56 sendable pydicom samples with their storescu options, from
 * test/fixtures/dicom-samples/pydicom/storescu-options.tsv (header `file<TAB>storescu_options`,
 * one row per file, options space-separated, empty for none).
 */
export function pydicomSamples(): PydicomSample[] {
  const tsv = readFileSync(join(pydicomSamplesDir, 'storescu-options.tsv'), 'utf8');
  const samples: PydicomSample[] = [];
  for (const [i, line] of tsv.split(/\r?\n/).entries()) {
    if (i === 0 || line.trim() === '') continue; // header
    const tab = line.indexOf('\t');
    const name = tab === -1 ? line.trim() : line.slice(0, tab).trim();
    const opts = tab === -1 ? '' : line.slice(tab + 1).trim();
    samples.push({ file: join(pydicomSamplesDir, name), options: opts === '' ? [] : opts.split(/\s+/) });
  }
  return samples;
}
