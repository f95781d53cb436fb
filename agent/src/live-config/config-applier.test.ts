import { GATEWAY_CONFIG_DEFAULTS, type GatewayDesiredConfig } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { pushedConfigProblem, withPushedConfig } from './config-applier.js';

const valid: GatewayDesiredConfig = { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'RAD_EAST' };
const push = (over: Record<string, unknown>) => ({ ...valid, ...over });

describe('pushed config validation', () => {
  it('accepts a complete config and trims AE titles', () => {
    const r = pushedConfigProblem(push({ aeTitle: ' RAD_EAST ', allowedCallingAeTitles: ['CT1 '] }));
    expect(r).toEqual({ ok: true, config: { ...valid, allowedCallingAeTitles: ['CT1'] } });
  });

  it.each([
    [{ aeTitle: 'A_TITLE_OF_20_CHARS_' }, 'aeTitle: AE title must be at most 16 characters (got 20)'],
    [{ aeTitle: 'BACK\\SLASH' }, 'aeTitle: AE title must not contain a backslash'],
    [{ port: 70_000 }, 'port: '],
    [{ port: '104' }, 'port: '],
    [{ allowedCallingAeTitles: ['OK', ''] }, 'allowedCallingAeTitles.1: AE title must not be empty'],
    [{ maxAssociations: 0 }, 'maxAssociations: '],
    [
      { transferSyntaxPolicy: 'explicit-first' },
      'transferSyntaxPolicy: must be one of "as-proposed", "prefer-uncompressed", "prefer-compressed"',
    ],
    [{ privateTransferSyntaxes: ['1.2.3', 'JPEG'] }, 'privateTransferSyntaxes.1: "JPEG" is not a UID'],
    [
      { privateSopClasses: ['1.2.840.10008.5.1.4.1.1.2'] },
      'privateSopClasses.0: "1.2.840.10008.5.1.4.1.1.2" is under the DICOM root 1.2.840.10008, so it is not a private UID',
    ],
    [{ upload: { ...valid.upload, parallelism: 0 } }, 'upload.parallelism: '],
    [
      { upload: { ...valid.upload, compression: 'jpeg2000' } },
      'upload.compression: must be one of "auto", "image", "zstd", "none"',
    ],
    [
      {
        upload: {
          ...valid.upload,
          schedule: [{ days: [1], from: '25:00', to: '08:00', bandwidthBytesPerSecond: 1 }],
        },
      },
      'upload.schedule.0.from: must be HH:MM (24-hour clock)',
    ],
    [{ listenOn: 'everything' }, 'Unrecognized key'],
    [
      {
        peers: [
          { name: 'PACS', aeTitle: 'PACS', host: 'pacs', port: 104 },
          { name: 'pacs', aeTitle: 'X', host: 'x', port: 1 },
        ],
      },
      'peers.1.name: "pacs" is already the name of another peer',
    ],
  ])('rejects %j with a reason naming the field', (over, reason) => {
    const r = pushedConfigProblem(push(over));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toContain(reason);
  });

  it('names every field at fault, and a missing one', () => {
    const { upload: _upload, ...noUpload } = valid;
    const r = pushedConfigProblem({ ...noUpload, port: 0 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/port: .*; upload: |upload: .*; port: /);
  });
});

describe('agent.json with a pushed config', () => {
  it('writes the pushed fields and version over it and keeps every other field', () => {
    const raw = {
      aeTitle: 'OLD',
      port: 104,
      host: '127.0.0.1',
      server: 'https://ferry.example',
      gatewayId: '7d3c7f5e-8a8e-4a36-9a51-3c5f1d0f1e11',
      timeouts: { artimMs: 1000, idleMs: 2000 },
      upload: { parallelism: 2, bandwidthBytesPerSecond: 5, retentionHours: 1 },
      configVersion: 3,
    };
    const next = withPushedConfig(raw, { ...valid, port: 11112 }, 4);
    expect(next).toEqual({
      ...raw,
      aeTitle: 'RAD_EAST',
      aeTitleAliases: [],
      port: 11112,
      allowedCallingAeTitles: [],
      maxAssociations: valid.maxAssociations,
      transferSyntaxPolicy: 'as-proposed',
      privateTransferSyntaxes: [],
      privateSopClasses: valid.privateSopClasses,
      upload: valid.upload,
      peers: [],
      userIdentity: { require: 'none' },
      storageCommitment: { maxWaitMinutes: 240 },
      stablePeriodSeconds: valid.stablePeriodSeconds,
      configVersion: 4,
    });
  });

  it('replaces an object-valued setting whole: no key of the old userIdentity lingers', () => {
    const users = [{ username: 'ct1', passwordHash: `scrypt$32768$8$1$${'s'.repeat(22)}$${'k'.repeat(43)}` }];
    const raw = { userIdentity: { require: 'username-password', users }, upload: { parallelism: 2 } };
    const next = withPushedConfig(raw, valid, 5);
    expect(next.userIdentity).toEqual({ require: 'none' });
    expect(next.upload).toEqual(valid.upload);
  });
});
