import type { BandwidthWindow } from '@ferry/shared';

/** How often the uploader looks at the clock for a schedule window opening or closing. */
export const SCHEDULE_CHECK_MS = 30_000;

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether `window` covers the local time `at`. A window belongs to the day it starts on: with `to`
 * at or before `from` it runs past midnight into the next day (from === to is a full 24 hours).
 */
export function windowCovers(window: BandwidthWindow, at: Date): boolean {
  const day = at.getDay();
  const now = at.getHours() * 60 + at.getMinutes();
  const from = minutesOf(window.from);
  const to = minutesOf(window.to);
  if (from < to) return window.days.includes(day) && now >= from && now < to;
  const yesterday = (day + 6) % 7;
  return (window.days.includes(day) && now >= from) || (window.days.includes(yesterday) && now < to);
}

/** The upload cap in force at local time `at`: the first covering window's, else the base cap (0 = none). */
export function bandwidthCapAt(
  at: Date,
  baseBytesPerSecond: number,
  schedule: readonly BandwidthWindow[],
): number {
  for (const w of schedule) if (windowCovers(w, at)) return w.bandwidthBytesPerSecond;
  return baseBytesPerSecond;
}
