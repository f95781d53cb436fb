/**
 * The PostgreSQL SQLSTATE of a failed query, from either backend: drizzle wraps the driver error
 * (`pg` or PGlite) as its cause, so the chain is walked.
 */
export function pgErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A unique index refused the row (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  return pgErrorCode(err) === '23505';
}

/** A foreign key refused the change (SQLSTATE 23503). */
export function isForeignKeyViolation(err: unknown): boolean {
  return pgErrorCode(err) === '23503';
}

/**
 * SQLSTATEs for text the database cannot hold: 22021 (a NUL byte, or bytes that are not UTF-8, in a
 * text parameter) and 22P05 (`\u0000` inside jsonb). Both come from what a client sent, never from
 * our own queries, so they are the client's 400, not a 500.
 */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

/** The database refused a value because of a character it cannot store (NUL, invalid UTF-8). */
export function isUnstorableText(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && UNSTORABLE_TEXT.has(code);
}
