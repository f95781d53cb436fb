import { describe, expect, it } from 'vitest';
import { settingInput } from './facility-fields.js';

describe('console inputs of pushed settings', () => {
  it('the stable period: label, hint and bounds from the table, as the API checks it', () => {
    expect(settingInput('stablePeriodSeconds')).toEqual({
      label: 'Stable period (seconds)',
      hint: 'A study is complete once no new image has arrived for this long.',
      attrs: { min: 1, max: 86400, step: 1, inputmode: 'numeric' },
    });
  });
});
