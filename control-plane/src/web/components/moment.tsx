import { formatTime } from './fleet-format.js';

/** A moment as `<time datetime="ISO">2026-11-28 07:30:12 UTC</time>`: absolute, so it never goes stale. */
export function Moment({ at }: { at: Date }) {
  return <time datetime={at.toISOString()}>{formatTime(at)}</time>;
}
