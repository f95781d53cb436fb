/**
 * How the worklist and the study page show DICOM values to people: names, dates, times, sizes and the
 * study status. Pure functions; hono/jsx escapes whatever they return.
 */

/**
 * A DICOM person name for people: "DOE^JOHN" → "DOE, JOHN", "DOE^JOHN^PAUL^DR" → "DOE, DR JOHN PAUL".
 * Only the first component group (before "=") is shown. Empty or missing → "(no name)".
 */
export function formatPatientName(pn: string | null | undefined): string {
  const group = (pn ?? '').split('=')[0] ?? '';
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = group
    .split('^')
    .map((p) => p.trim());
  const rest = [prefix, given, middle, suffix].filter((p) => p !== '').join(' ');
  if (family !== '' && rest !== '') return `${family}, ${rest}`;
  return family || rest || '(no name)';
}

/** A DICOM DA (YYYYMMDD) as ISO (YYYY-MM-DD), or undefined when it is not one. */
export function studyDateIso(da: string | null | undefined): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec((da ?? '').trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}

/** A size in bytes for people: "812 B", "12.3 KB", "4.5 MB" (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export type WorklistStatus = 'receiving' | 'complete' | 'updated';

/**
 * The one status a person sees: `updated` (an instance came after completion, or replaced an earlier
 * version) wins over `receiving` and `complete`, as the worklist's `updated` filter selects it whatever
 * the status.
 */
export function worklistStatus(s: { status: 'receiving' | 'complete'; updated: boolean }): WorklistStatus {
  return s.updated ? 'updated' : s.status;
}
