import { join } from 'node:path';

export interface SpoolPaths {
  root: string;
  objects: string;
  tmp: string;
  log: string;
  lock: string;
}

export function spoolPaths(dataDir: string): SpoolPaths {
  const root = join(dataDir, 'spool');
  return {
    root,
    objects: join(root, 'objects'),
    tmp: join(root, 'tmp'),
    log: join(root, 'log'),
    lock: join(root, 'lock'),
  };
}

export function objectPath(paths: SpoolPaths, id: string): string {
  return join(paths.objects, `${id}.fobj`);
}

export function segmentPath(paths: SpoolPaths, seq: number): string {
  return join(paths.log, `${String(seq).padStart(8, '0')}.seg`);
}

/** The cloud's receipts by SOP Instance UID (receipts.ts). */
export function receiptsPath(paths: SpoolPaths): string {
  return join(paths.root, 'receipts.log');
}
