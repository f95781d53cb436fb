import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError, PRIVATE_DIR_MODE } from '@ferry/shared';
import { z } from 'zod';
import { fsyncDir } from '../data-dir.js';

/**
 * Storage commitment requests from N-ACTION to N-EVENT-REPORT, one file each in
 * DATA/commitment/<Transaction UID>.json, written crash-safely (temp file, fsync, rename, directory
 * fsync) before the N-ACTION-RSP says Success, and deleted once the report was answered. UIDs and AE
 * titles only: no patient data.
 */

const refSchema = z.object({ c: z.string(), i: z.string() });

export const commitmentRecordSchema = z.object({
  v: z.literal(1),
  transactionUid: z.string(),
  /** Who asked: the calling AE title of the N-ACTION's association (where the report goes). */
  callingAeTitle: z.string(),
  /** The AE title it called (ours at the time; the report's association calls from it). */
  calledAeTitle: z.string(),
  receivedAt: z.string(),
  refs: z.array(refSchema),
  /** The result, once decided: fixed from then on, whatever the spool learns later. */
  result: z
    .object({
      committed: z.array(refSchema),
      failed: z.array(refSchema.extend({ r: z.number().int() })),
    })
    .optional(),
});
export type CommitmentRecord = z.infer<typeof commitmentRecordSchema>;

export function commitmentDir(dataDir: string): string {
  return join(dataDir, 'commitment');
}

export class CommitmentJournal {
  private constructor(private readonly dir: string) {}

  static async open(dataDir: string): Promise<CommitmentJournal> {
    const dir = commitmentDir(dataDir);
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    return new CommitmentJournal(dir);
  }

  /** Every request on disk; a file that cannot be read is reported and left for an admin. */
  async load(onBad: (file: string, err: unknown) => void): Promise<CommitmentRecord[]> {
    const out: CommitmentRecord[] = [];
    for (const f of await readdir(this.dir)) {
      if (f.endsWith('.tmp')) {
        await unlink(join(this.dir, f)).catch(() => undefined);
        continue;
      }
      if (!f.endsWith('.json')) continue;
      try {
        out.push(commitmentRecordSchema.parse(JSON.parse(await readFile(join(this.dir, f), 'utf8'))));
      } catch (err) {
        onBad(f, err);
      }
    }
    return out;
  }

  /** Makes `record` durable, replacing any earlier one of the same transaction. */
  async save(record: CommitmentRecord): Promise<void> {
    const file = this.fileOf(record.transactionUid);
    const tmp = `${file}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(record));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    await fsyncDir(this.dir);
  }

  async remove(transactionUid: string): Promise<void> {
    await unlink(this.fileOf(transactionUid)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fsyncDir(this.dir);
  }

  private fileOf(transactionUid: string): string {
    // The parser admits only valid UIDs (digits and dots), so the name cannot leave the directory.
    if (!/^[0-9.]{1,64}$/.test(transactionUid))
      throw new FerryError('dicom.commitment_invalid', 'the Transaction UID is not a valid UID');
    return join(this.dir, `${transactionUid}.json`);
  }
}
