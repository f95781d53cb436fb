// Studies of realistic size made from the few real images under test/data/real: each real file is
// repeated with fresh Study, Series and SOP Instance UIDs (DCMTK dcmodify, which rewrites only those
// attributes and the meta header's copy; the pixel data stays the real bytes). Cached under
// test/.work/corpus, built into a temporary sibling and renamed, so existence means complete.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { corpusDir } from '../../test/harness/corpus.js';
import { runDcmtk, topLevelStrings } from '../../test/harness/dcmtk.js';
import { type RealDataFile, realDataFiles, realDataManifest } from '../../test/harness/real-data.js';

export interface WanStudy {
  name: string;
  dir: string;
  files: string[];
  /** Sum of the Part-10 files' sizes. */
  bytes: number;
  studyUid: string;
  /** (0008,0060) of its instances. */
  modality: string;
  /** How it was made, for the output. */
  madeFrom: string;
}

/** A fresh UID under the UUID-derived root 2.25 (PS3.5 B.2). */
function freshUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

async function dcmodify(args: string[]): Promise<void> {
  const res = await runDcmtk('dcmodify', args);
  if (res.code !== 0) throw new Error(`dcmodify ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
}

/**
 * `count` instances in one study: the real files that pass `keep`, cycled in manifest order, each
 * copy of a real series a series of its own.
 */
export async function wanStudy(name: string, modality: string, count: number): Promise<WanStudy> {
  const keep = (f: RealDataFile) => f.modality === modality;
  const sources = realDataFiles(keep);
  const series = realDataManifest().files.filter(keep);
  if (sources.length === 0) throw new Error(`${name}: no real file kept`);
  const dir = join(corpusDir, `wan-${name}-${count}`);
  if (!existsSync(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const studyUid = freshUid();
    // Copy k of real series s goes to one new series: group the targets per (k, s).
    const groups = new Map<string, string[]>();
    for (let i = 0; i < count; i++) {
      const src = sources[i % sources.length] ?? '';
      const key = `${Math.floor(i / sources.length)}/${series[i % sources.length]?.series}`;
      const out = join(tmp, `${String(i).padStart(4, '0')}-${basename(src)}`);
      await copyFile(src, out);
      groups.set(key, [...(groups.get(key) ?? []), out]);
    }
    for (const files of groups.values())
      await dcmodify([
        '-nb',
        '-m',
        `(0020,000d)=${studyUid}`,
        '-m',
        `(0020,000e)=${freshUid()}`,
        // A new SOP Instance UID per file, copied into the meta header too.
        '-gin',
        ...files,
      ]);
    await rename(tmp, dir);
  }
  const files = (await readdir(dir))
    .filter((f) => f.endsWith('.dcm'))
    .sort()
    .map((f) => join(dir, f));
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  const studyUid = (await topLevelStrings(files[0] ?? '', ['0020,000d']))['0020,000d'];
  if (!studyUid) throw new Error(`${dir}: no Study Instance UID`);
  return {
    name,
    dir,
    files,
    bytes,
    studyUid,
    modality,
    madeFrom: `${sources.length} real files (${[...new Set(series.map((s) => s.series))].join(', ')}) repeated to ${count} instances with fresh Study/Series/SOP Instance UIDs (dcmodify; pixel data unchanged)`,
  };
}
