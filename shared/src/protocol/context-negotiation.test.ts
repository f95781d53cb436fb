import { describe, expect, it } from 'vitest';
import { DEFAULT_PRIVATE_SOP_CLASSES } from '../dicom/private-storage-sop-classes.js';
import {
  privateUidListSchema,
  privateUidProblem,
  transferSyntaxPolicySchema,
} from './context-negotiation.js';
import { GATEWAY_CONFIG_DEFAULTS, gatewayConfigV2Schema, gatewaySettingsSchema } from './gateway-config.js';

/** zod's issues as `path: message`, the way the agent and the API report them. */
function problems(result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}) {
  return result.success ? [] : (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('transfer syntax negotiation settings', () => {
  it('defaults: as-proposed, no private transfer syntaxes, the vendor-private storage classes', () => {
    expect(GATEWAY_CONFIG_DEFAULTS.transferSyntaxPolicy).toBe('as-proposed');
    expect(GATEWAY_CONFIG_DEFAULTS.privateTransferSyntaxes).toEqual([]);
    expect(GATEWAY_CONFIG_DEFAULTS.privateSopClasses).toEqual(DEFAULT_PRIVATE_SOP_CLASSES);
    expect(privateUidListSchema.parse(DEFAULT_PRIVATE_SOP_CLASSES)).toEqual(DEFAULT_PRIVATE_SOP_CLASSES);
  });

  it('takes each policy and refuses another value, naming the three', () => {
    for (const p of ['as-proposed', 'prefer-uncompressed', 'prefer-compressed'])
      expect(transferSyntaxPolicySchema.parse(p)).toBe(p);
    expect(problems(gatewaySettingsSchema.safeParse({ transferSyntaxPolicy: 'explicit-first' }))).toEqual([
      'transferSyntaxPolicy: must be one of "as-proposed", "prefer-uncompressed", "prefer-compressed"',
    ]);
  });

  it('refuses a private UID that is no UID or is under the DICOM root, naming the entry', () => {
    expect(
      problems(
        gatewaySettingsSchema.safeParse({
          privateTransferSyntaxes: ['1.2.3.4', '1.02.3'],
          privateSopClasses: ['1.2.840.10008.5.1.4.1.1.2', 'x'.repeat(3)],
        }),
      ),
    ).toEqual([
      'privateTransferSyntaxes.1: "1.02.3" is not a UID (numbers separated by dots, no leading zeros, at most 64 characters)',
      'privateSopClasses.0: "1.2.840.10008.5.1.4.1.1.2" is under the DICOM root 1.2.840.10008, so it is not a private UID',
      'privateSopClasses.1: "xxx" is not a UID (numbers separated by dots, no leading zeros, at most 64 characters)',
    ]);
    expect(privateUidProblem(`1.${'2'.repeat(63)}`)).toMatch(/is not a UID/);
    expect(privateUidProblem(' 1.2.3')).toMatch(/is not a UID/);
    expect(privateUidListSchema.parse([' 1.2.3 '])).toEqual(['1.2.3']);
    expect(
      problems(privateUidListSchema.safeParse(Array.from({ length: 1001 }, (_, i) => `1.2.${i}`))),
    ).toEqual([': must list at most 1000 UIDs']);
  });

  it('a pushed config from before these settings reads as their defaults', () => {
    const {
      transferSyntaxPolicy: _a,
      privateTransferSyntaxes: _b,
      privateSopClasses: _c,
      ...older
    } = {
      ...GATEWAY_CONFIG_DEFAULTS,
      aeTitle: 'GW',
    };
    expect(gatewayConfigV2Schema.parse(older)).toMatchObject({
      transferSyntaxPolicy: 'as-proposed',
      privateTransferSyntaxes: [],
      privateSopClasses: DEFAULT_PRIVATE_SOP_CLASSES,
    });
  });
});
