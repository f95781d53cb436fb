import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  deriveObjectKey,
  FerryError,
  instanceManifestSchema,
  openObject,
  PRIVATE_DIR_MODE,
  unwrapDataKey,
} from '@ferry/shared';
import type { JWK } from 'jose';
import { openSpoolReader } from '../spool/spool-reader.js';
import { parse, requireString } from './args.js';

function safeName(s: string): string {
  return s.replace(/[^0-9A-Za-z._-]/g, '_');
}

/** Disaster recovery: decrypts every spooled instance into Part-10 files with the control plane's key. */
export async function exportCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    'data-dir': { type: 'string' },
    key: { type: 'string' },
    out: { type: 'string' },
  });
  const dataDir = requireString(values, 'data-dir');
  const out = requireString(values, 'out');
  let keys: JWK[];
  try {
    const parsed = JSON.parse(await readFile(requireString(values, 'key'), 'utf8')) as JWK | { keys: JWK[] };
    keys = 'keys' in parsed ? parsed.keys : [parsed];
  } catch (cause) {
    throw new FerryError('crypto.key_invalid', '--key must name a readable private JWK (or JWK set) file', {
      cause,
    });
  }
  const spool = await openSpoolReader(dataDir);
  const entries = spool.entries().filter((e) => e.state !== 'delivered');
  let exported = 0;
  const failures: string[] = [];
  for (const e of entries) {
    const dir = join(out, safeName(e.studyInstanceUid ?? 'unknown-study'));
    // Decrypted instances: patient data, for the one who ran the export only.
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const base = join(dir, `${safeName(e.sopInstanceUid)}${e.version > 1 ? `.v${e.version}` : ''}`);
    // Never let one export overwrite another, whatever the index says.
    const file = existsSync(`${base}.dcm`) ? `${base}.${e.id}.dcm` : `${base}.dcm`;
    const sink = createWriteStream(`${file}.part`);
    try {
      const parts = openObject(spool.readSealed(e.id), async (h) =>
        deriveObjectKey(await unwrapDataKey(h.wrappedKey, keys), h.objectId),
      );
      for await (const part of parts) {
        if (part.kind === 'manifest') instanceManifestSchema.parse(part.manifest);
        if (part.kind === 'data' && !sink.write(part.bytes)) await once(sink, 'drain');
      }
      sink.end();
      await once(sink, 'finish');
      await rename(`${file}.part`, file);
      exported++;
    } catch (err) {
      sink.destroy();
      await unlink(`${file}.part`).catch(() => undefined);
      failures.push(`${e.id}: ${(err as Error).message}`);
    }
  }
  process.stdout.write(`exported ${exported} of ${entries.length} instance(s) to ${out}\n`);
  if (failures.length > 0) {
    process.stderr.write(`${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}
