/** Display formats shared by the fleet and gateway pages and the fleet's live updates. */

/**
 * The one way the console writes a time: `2026-11-28 07:30 UTC`, absolute so it never goes stale, and
 * the same as the date filters' YYYY-MM-DD. The page script (layout.client.js) rewrites every
 * `<time>` carrying a full timestamp into the viewer's own time zone, `2026-11-28 08:30`, keeping the
 * full timestamp in its title; without script the page stays in UTC.
 */
export function formatTime(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A byte count with a binary unit: `0 B`, `1.5 KiB`, `12 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${v.toFixed(digits).replace(/\.0$/, '')} ${units[i]}`;
}

/** A duration in seconds as `3 d 4 h`, `2 h 5 min`, `4 min 10 s` or `12 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

/** A config version as a row shows it: `v3`, or `none`. */
export function formatVersion(v: number | null): string {
  return v === null ? 'none' : `v${v}`;
}
