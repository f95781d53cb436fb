import type { BandwidthWindow } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { bandwidthCapAt, windowCovers } from './schedule.js';

/** A local time on a known weekday: 2026-11-30 is a Monday. */
const at = (day: number, hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return new Date(2026, 10, 29 + day, h, m);
};

const businessHours: BandwidthWindow = {
  days: [1, 2, 3, 4, 5],
  from: '08:00',
  to: '18:00',
  bandwidthBytesPerSecond: 1_000_000,
};
const overnight: BandwidthWindow = { days: [5], from: '22:00', to: '06:00', bandwidthBytesPerSecond: 50 };

describe('bandwidth schedule windows (gateway local time)', () => {
  it('knows its weekdays', () => {
    expect(at(0, '12:00').getDay()).toBe(0);
    expect(at(1, '12:00').getDay()).toBe(1);
  });

  it('covers from `from` up to, not including, `to` on its days', () => {
    expect(windowCovers(businessHours, at(1, '08:00'))).toBe(true);
    expect(windowCovers(businessHours, at(3, '17:59'))).toBe(true);
    expect(windowCovers(businessHours, at(3, '18:00'))).toBe(false);
    expect(windowCovers(businessHours, at(3, '07:59'))).toBe(false);
    expect(windowCovers(businessHours, at(6, '12:00'))).toBe(false);
    expect(windowCovers(businessHours, at(0, '12:00'))).toBe(false);
  });

  it('runs past midnight into the next day when `to` is before `from`', () => {
    // Friday 22:00 to Saturday 06:00.
    expect(windowCovers(overnight, at(5, '21:59'))).toBe(false);
    expect(windowCovers(overnight, at(5, '22:00'))).toBe(true);
    expect(windowCovers(overnight, at(5, '23:59'))).toBe(true);
    expect(windowCovers(overnight, at(6, '00:00'))).toBe(true);
    expect(windowCovers(overnight, at(6, '05:59'))).toBe(true);
    expect(windowCovers(overnight, at(6, '06:00'))).toBe(false);
    // Friday early morning belongs to a Thursday window, which there is none of.
    expect(windowCovers(overnight, at(5, '01:00'))).toBe(false);
    // Sunday 00:30 after a Saturday window: the previous day wraps from Sunday (0) to Saturday (6).
    expect(windowCovers({ ...overnight, days: [6] }, at(0, '00:30'))).toBe(true);
  });

  it('treats from === to as a full 24 hours from `from`', () => {
    const allDay: BandwidthWindow = { days: [2], from: '00:00', to: '00:00', bandwidthBytesPerSecond: 1 };
    expect(windowCovers(allDay, at(2, '00:00'))).toBe(true);
    expect(windowCovers(allDay, at(2, '23:59'))).toBe(true);
    expect(windowCovers(allDay, at(3, '00:00'))).toBe(false);
    expect(windowCovers(allDay, at(1, '23:59'))).toBe(false);
  });

  it('applies the first covering window, else the base cap', () => {
    const lunch: BandwidthWindow = { days: [1], from: '12:00', to: '13:00', bandwidthBytesPerSecond: 0 };
    expect(bandwidthCapAt(at(1, '12:30'), 5000, [businessHours, lunch])).toBe(1_000_000);
    expect(bandwidthCapAt(at(1, '12:30'), 5000, [lunch, businessHours])).toBe(0);
    expect(bandwidthCapAt(at(1, '19:00'), 5000, [lunch, businessHours])).toBe(5000);
    expect(bandwidthCapAt(at(1, '19:00'), 0, [])).toBe(0);
  });
});
