import { join } from 'node:path';

export interface SpoolPaths {
  root: string;
  objects: string;
  tmp: string;
  journal: string;
}

export function spoolPaths(dataDir: string): SpoolPaths {
  const root = join(dataDir, 'spool');
  return { root, objects: join(root, 'objects'), tmp: join(root, 'tmp'), journal: join(root, 'index.jsonl') };
}

export function objectPath(paths: SpoolPaths, id: string): string {
  return join(paths.objects, `${id}.fobj`);
}
