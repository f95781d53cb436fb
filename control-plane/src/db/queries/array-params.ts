import { type Column, type SQL, sql } from 'drizzle-orm';

/**
 * `column = any($1)` with the values as one array parameter. drizzle's inArray makes a parameter per
 * value and builds the statement in JS value by value (entity checks on each), which on the ingest
 * path's batches (hundreds of ids) cost more than PostgreSQL's own work; one array is the same
 * statement whatever the number. Both drivers (pg, PGlite) send a JS array as a PostgreSQL array.
 */
export function anyOf(column: Column, values: readonly unknown[]): SQL {
  return sql`${column} = any(${arrayParam(column, values)})`;
}

/** The values as one parameter cast to an array of `column`'s type (e.g. for unnest). */
export function arrayParam(column: Column, values: readonly unknown[]): SQL {
  return sql`${sql.param(values)}::${sql.raw(column.getSQLType())}[]`;
}
