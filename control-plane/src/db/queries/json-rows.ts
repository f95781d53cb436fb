import { type Column, getTableColumns, is, SQL, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/**
 * Many rows for `db.insert(table).select(...)` as one jsonb parameter, unpacked by jsonb_to_recordset.
 *
 * drizzle's `.values(rows)` makes a parameter per column per row and builds the statement in JS at
 * about 0.3 to 1 ms a row for a wide table (instances: 22 columns, a jsonb header), more than
 * PostgreSQL takes to insert the row. Here the rows are one JSON.stringify and the statement is the
 * same whatever their number.
 *
 * The select lists every insertable column of `table` in its order, as drizzle's insert expects. A
 * column no row sets takes its default (e.g. `gen_random_uuid()`); one that some rows set and others
 * not, or that no row sets but whose default is computed in JS ($defaultFn), is refused. Values go through JSON: Dates as ISO strings (for timestamp columns), json
 * and jsonb values as nested JSON, numbers, booleans, strings and null as themselves.
 */
export function jsonRows<T extends PgTable>(table: T, rows: readonly T['$inferInsert'][]): SQL {
  const columns = Object.entries(getTableColumns(table)) as [string, Column][];
  const picked: { key: string; column: Column }[] = [];
  const select: SQL[] = [];
  for (const [key, column] of columns) {
    const set = rows.filter((r) => (r as Record<string, unknown>)[key] !== undefined).length;
    if (set === 0) {
      if (column.defaultFn !== undefined) throw new Error(`jsonRows: column ${column.name} needs a value`);
      if (is(column.default, SQL)) select.push(column.default);
      else if (column.default !== undefined) select.push(sql`${column.default}`);
      else select.push(sql`null`);
      continue;
    }
    if (set !== rows.length) throw new Error(`jsonRows: column ${column.name} is set on some rows only`);
    picked.push({ key, column });
    select.push(sql`r.${sql.identifier(column.name)}`);
  }
  const json = JSON.stringify(
    rows.map((r) => {
      const o: Record<string, unknown> = {};
      for (const { key, column } of picked) o[column.name] = (r as Record<string, unknown>)[key];
      return o;
    }),
  );
  const shape = sql.join(
    picked.map(({ column }) => sql`${sql.identifier(column.name)} ${sql.raw(column.getSQLType())}`),
    sql`, `,
  );
  return sql`select ${sql.join(select, sql`, `)} from jsonb_to_recordset(${json}::jsonb) as r(${shape})`;
}
