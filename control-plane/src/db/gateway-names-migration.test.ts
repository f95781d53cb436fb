// Migration 0008 on a database that already holds gateways: each gets the default name (facility name
// and host name), a second gateway on the same host in the same facility "(2)", and the column ends
// NOT NULL and unique within the facility.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MIGRATIONS = join(import.meta.dirname, '..', '..', 'migrations');

async function run(db: PGlite, file: string): Promise<void> {
  const text = await readFile(join(MIGRATIONS, file), 'utf8');
  for (const statement of text.split('--> statement-breakpoint'))
    if (statement.trim()) await db.exec(statement);
}

describe('migration 0008_gateway_names', () => {
  let db: PGlite;

  beforeAll(async () => {
    db = new PGlite();
    const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql')).sort();
    for (const f of files.filter((f) => f < '0008')) await run(db, f);
    await db.exec(`
      insert into groups (id, name) values ('00000000-0000-4000-8000-000000000001', 'G');
      insert into facilities (id, group_id, name, ae_title) values
        ('00000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-000000000001', 'Radiology North', 'NORTH'),
        ('00000000-0000-4000-8000-0000000000f2', '00000000-0000-4000-8000-000000000001', 'Radiology South', 'SOUTH');
      insert into gateways (id, group_id, facility_id, public_key, hostname, version, enrolled_at) values
        ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000f1', '{}', 'pacs-host', '1', '2026-01-01'),
        ('00000000-0000-4000-8000-0000000000a2', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000f1', '{}', 'pacs-host', '1', '2026-01-02'),
        ('00000000-0000-4000-8000-0000000000a3', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000f2', '{}', 'pacs-host', '1', '2026-01-03');
    `);
    await run(db, files.find((f) => f.startsWith('0008')) ?? '0008 missing');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('backfills the default name, "(2)" for a second gateway on one host of a facility', async () => {
    const rows = await db.query<{ id: string; name: string }>('select id, name from gateways order by id');
    expect(rows.rows.map((r) => r.name)).toEqual([
      'Radiology North pacs-host',
      'Radiology North pacs-host (2)',
      'Radiology South pacs-host',
    ]);
  });

  it('makes the name required and unique within the facility', async () => {
    const insert = (name: string | null, facility: string) =>
      db.query(
        `insert into gateways (group_id, facility_id, public_key, hostname, version, name)
         values ('00000000-0000-4000-8000-000000000001', $1, '{}', 'h', '1', $2)`,
        [facility, name],
      );
    await expect(insert(null, '00000000-0000-4000-8000-0000000000f1')).rejects.toThrow(/null/i);
    await expect(insert('Radiology North pacs-host', '00000000-0000-4000-8000-0000000000f1')).rejects.toThrow(
      /unique|duplicate/i,
    );
    await expect(
      insert('Radiology North pacs-host', '00000000-0000-4000-8000-0000000000f2'),
    ).resolves.toBeDefined();
  });
});
