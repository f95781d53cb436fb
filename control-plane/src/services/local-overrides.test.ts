import { describe, expect, it } from 'vitest';
import { healthReport } from '../../../testkit/control-plane/seed-gateway-status.js';
import { LocalOverrideWatch, localOverrideCondition, localOverridesOf } from './local-overrides.js';

const desired = {
  version: 3,
  config: { aeTitle: 'SITE', port: 4104, maxAssociations: 32, allowedCallingAeTitles: ['CT1'] },
};
const reported = (over: {
  port?: number;
  aeTitle?: string;
  version?: number;
  inForce?: {
    maxAssociations: number;
    allowedCallingAeTitles: string[];
    flags: ('port' | 'aeTitle')[];
  } | null;
}) => {
  const base = healthReport({ configVersion: over.version ?? 3 });
  const inForce =
    over.inForce === null
      ? {}
      : { inForce: over.inForce ?? { maxAssociations: 32, allowedCallingAeTitles: ['CT1'], flags: [] } };
  return {
    ...base,
    dicom: { ...base.dicom, port: over.port ?? 4104, aeTitle: over.aeTitle ?? 'SITE' },
    ...inForce,
  };
};

describe('localOverridesOf', () => {
  it('finds nothing when the settings in force are the desired ones', () => {
    expect(localOverridesOf(desired, reported({}))).toEqual([]);
  });

  it('names a --port flag as the reason, and a difference without a flag as agent.json', () => {
    const h = reported({
      port: 4105,
      aeTitle: 'LOCAL',
      inForce: { maxAssociations: 4, allowedCallingAeTitles: [], flags: ['port'] },
    });
    expect(localOverridesOf(desired, h)).toEqual([
      { setting: 'port', desired: 4104, inForce: 4105, source: 'flag' },
      { setting: 'aeTitle', desired: 'SITE', inForce: 'LOCAL', source: 'file' },
      { setting: 'maxAssociations', desired: 32, inForce: 4, source: 'file' },
      { setting: 'allowedCallingAeTitles', desired: ['CT1'], inForce: [], source: 'file' },
    ]);
  });

  it('compares only the version the gateway applied: a version on its way is not an override', () => {
    expect(localOverridesOf(desired, reported({ port: 9999, version: 2 }))).toEqual([]);
    expect(localOverridesOf(null, reported({ port: 9999 }))).toEqual([]);
  });

  it('compares upload.compression with the mode the gateway reports in force (agent.json); a version without it desires auto', () => {
    const compression = {
      mode: 'none',
      coding: 'none',
      reason: 'forced',
      drainBytesPerSecond: null,
      lastDrainBytesPerSecond: null,
      codecBytesPerSecond: null,
      byModality: [],
    };
    const h = { ...reported({}), compression };
    const imageDesired = { ...desired, config: { ...desired.config, upload: { compression: 'image' } } };
    expect(localOverridesOf(imageDesired, h)).toEqual([
      { setting: 'upload.compression', desired: 'image', inForce: 'none', source: 'file' },
    ]);
    expect(localOverridesOf(desired, h)).toEqual([
      { setting: 'upload.compression', desired: 'auto', inForce: 'none', source: 'file' },
    ]);
    expect(localOverridesOf(desired, { ...h, compression: { ...compression, mode: 'auto' } })).toEqual([]);
  });

  it('an older agent (no inForce) is compared on port and AE title, the reason unknown', () => {
    expect(localOverridesOf(desired, reported({ port: 4105, inForce: null }))).toEqual([
      { setting: 'port', desired: 4104, inForce: 4105, source: 'unknown' },
    ]);
  });
});

describe('the config.local_override condition', () => {
  it('is a warning that says which setting, desired and in force, and why', () => {
    const c = localOverrideCondition(
      [{ setting: 'port', desired: 4104, inForce: 4105, source: 'flag' }],
      '2026-12-07T10:00:00.000Z',
    );
    expect(c).toEqual({
      code: 'config.local_override',
      severity: 'warning',
      message:
        'A local setting wins over the desired config: port 4105 in force, 4104 desired (command-line flag --port).',
      since: '2026-12-07T10:00:00.000Z',
    });
    expect(localOverrideCondition([], 'x')).toBeUndefined();
  });

  it('keeps its since while it holds, clears with the override, and leaves the agent’s conditions alone', () => {
    const watch = new LocalOverrideWatch();
    const t0 = new Date('2026-12-07T10:00:00.000Z');
    const first = watch.apply(reported({ port: 4105 }), desired, t0);
    expect(first.conditions.map((c) => [c.code, c.since])).toEqual([
      ['config.local_override', t0.toISOString()],
    ]);
    const later = watch.apply(reported({ port: 4105 }), desired, new Date(t0.getTime() + 60_000));
    expect(later.conditions[0]?.since).toBe(t0.toISOString());
    const fixed = reported({});
    expect(watch.apply(fixed, desired, new Date(t0.getTime() + 120_000))).toBe(fixed);
    const again = watch.apply(reported({ aeTitle: 'X' }), desired, new Date(t0.getTime() + 180_000));
    expect(again.conditions[0]?.since).toBe(new Date(t0.getTime() + 180_000).toISOString());
  });
});
