import { formatTime } from './fleet-format.js';

/**
 * A moment as `<time datetime="ISO" title="ISO">2026-11-28 07:30 UTC</time>` (formatTime), shown in the
 * viewer's time zone once the page script runs; the title keeps the full timestamp.
 */
export function Moment({ at }: { at: Date }) {
  const iso = at.toISOString();
  return (
    <time datetime={iso} title={iso}>
      {formatTime(at)}
    </time>
  );
}
