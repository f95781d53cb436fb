import { FerryError } from '@ferry/shared';

/** Bounds of facilities.stable_period_seconds: a study is complete this long after its last instance. */
export const STABLE_PERIOD_MIN_SECONDS = 1;
export const STABLE_PERIOD_MAX_SECONDS = 86_400;
export const STABLE_PERIOD_DEFAULT_SECONDS = 60;

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
