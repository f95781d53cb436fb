import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { studyEvents } from '../schema/index.js';
import { jsonRows } from './json-rows.js';

const dialect = new PgDialect();

describe('jsonRows', () => {
  it('selects every column in table order from one jsonb parameter, with defaults for unset ones', () => {
    const at = new Date('2026-11-28T10:00:00.000Z');
    const q = dialect.sqlToQuery(
      jsonRows(studyEvents, [
        { studyId: '00000000-0000-0000-0000-000000000001', kind: 'created', at, detail: { a: 1 } },
        { studyId: '00000000-0000-0000-0000-000000000002', kind: 'reopened', at, detail: {} },
      ]),
    );
    expect(q.sql).toBe(
      'select gen_random_uuid(), r."study_id", r."kind", r."at", r."detail" from jsonb_to_recordset($1::jsonb) ' +
        'as r("study_id" uuid, "kind" text, "at" timestamp with time zone, "detail" jsonb)',
    );
    expect(JSON.parse(q.params[0] as string)).toEqual([
      {
        study_id: '00000000-0000-0000-0000-000000000001',
        kind: 'created',
        at: '2026-11-28T10:00:00.000Z',
        detail: { a: 1 },
      },
      {
        study_id: '00000000-0000-0000-0000-000000000002',
        kind: 'reopened',
        at: '2026-11-28T10:00:00.000Z',
        detail: {},
      },
    ]);
  });

  it('refuses a column that only some rows set', () => {
    expect(() =>
      jsonRows(studyEvents, [
        { studyId: '00000000-0000-0000-0000-000000000001', kind: 'created', detail: { a: 1 } },
        { studyId: '00000000-0000-0000-0000-000000000002', kind: 'created' },
      ]),
    ).toThrow(/detail/);
  });
});
