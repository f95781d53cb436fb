import { FerryError, PUSHED_SETTINGS } from '@ferry/shared';

/**
 * Bounds of facilities.stable_period_seconds (a study is complete this long after its last instance),
 * as the pushed settings table has them.
 */
const { bounds, default: defaultSeconds } = PUSHED_SETTINGS.stablePeriodSeconds;
export const STABLE_PERIOD_MIN_SECONDS = bounds.min;
export const STABLE_PERIOD_MAX_SECONDS = bounds.max;
export const STABLE_PERIOD_DEFAULT_SECONDS = defaultSeconds;

export function checkStablePeriod(seconds: number): number {
  if (
    !Number.isInteger(seconds) ||
    seconds < STABLE_PERIOD_MIN_SECONDS ||
    seconds > STABLE_PERIOD_MAX_SECONDS
  ) {
    throw new FerryError(
      'request.invalid',
      `stablePeriodSeconds must be a whole number from ${STABLE_PERIOD_MIN_SECONDS} to ${STABLE_PERIOD_MAX_SECONDS}`,
    );
  }
  return seconds;
}
