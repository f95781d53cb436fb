import { FerryError } from '@ferry/shared';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** Maps a file-system failure to a spool error: disk full is told apart from other I/O faults. */
export function spoolIoError(err: unknown, action: string): FerryError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code && OUT_OF_SPACE.has(code)) {
    return new FerryError('spool.out_of_space', `spool disk is full while ${action} (${code})`, {
      cause: err,
    });
  }
  return new FerryError('spool.io_error', `spool I/O failed while ${action}${code ? ` (${code})` : ''}`, {
    cause: err,
  });
}

/** What a failed read of a spooled object's sealed bytes means: a missing local file is corruption. */
export function sealedReadError(id: string, err: unknown): FerryError {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT'
    ? new FerryError('spool.corrupt', `spool object ${id} is missing its local file`, { cause: err })
    : spoolIoError(err, 'reading a spool object for upload');
}
