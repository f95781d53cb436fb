import { generateRecipientKeyPair, isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../config.js';
import { checkLocalSettings, enrolledAgentConfig } from './enroll.js';

describe('enrolledAgentConfig', () => {
  it("keeps local settings of an existing agent.json and puts the server's config on top", async () => {
    const { publicJwk } = await generateRecipientKeyPair();
    const existing = {
      host: '10.0.0.5',
      aeTitle: 'OLD',
      port: 11112,
      logPhi: true,
      tls: { cert: 'c', key: 'k' },
    };
    const config = enrolledAgentConfig(existing, 'https://ferry.example.org', {
      gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10',
      facility: { id: '0b9d6c1e-6f1a-4d7e-9d1c-2f8a6f4b2a10', name: 'East', aeTitle: 'RAD_EAST' },
      config: {
        aeTitle: 'RAD_EAST',
        port: 4104,
        allowedCallingAeTitles: ['CT1'],
        maxAssociations: 8,
        peers: [{ name: 'PACS', aeTitle: 'PACS', host: 'pacs.example', port: 104, tls: false }],
      },
      configVersion: 1,
      recipientPublicKey: publicJwk as { kty: string; crv: string; x: string },
    });
    expect(config).toMatchObject({
      host: '10.0.0.5',
      logPhi: true,
      tls: { cert: 'c', key: 'k' },
      aeTitle: 'RAD_EAST',
      port: 4104,
      allowedCallingAeTitles: ['CT1'],
      maxAssociations: 8,
      peers: [{ name: 'PACS', aeTitle: 'PACS', host: 'pacs.example', port: 104, tls: false }],
      server: 'https://ferry.example.org',
      gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10',
      configVersion: 1,
    });
    expect(agentConfigSchema.safeParse(config).success).toBe(true);
  });

  it("writes every pushed setting of the server's config with the version they belong to", async () => {
    const { publicJwk } = await generateRecipientKeyPair();
    const negotiation = {
      transferSyntaxPolicy: 'prefer-compressed',
      privateTransferSyntaxes: ['1.2.3.4.5'],
      privateSopClasses: ['1.2.3.4.6'],
      userIdentity: { require: 'username', usernames: ['ct1'] },
      storageCommitment: { maxWaitMinutes: 30 },
      upload: { parallelism: 2 },
    };
    const config = enrolledAgentConfig(
      { transferSyntaxPolicy: 'prefer-uncompressed', upload: { retentionHours: 5 } },
      'https://ferry.example.org',
      {
        gatewayId: '6f1d3c1e-2b7a-4d0e-9a55-0c4b7e2f9a10',
        facility: { id: '0b9d6c1e-6f1a-4d7e-9d1c-2f8a6f4b2a10', name: 'East', aeTitle: 'RAD_EAST' },
        config: {
          aeTitle: 'RAD_EAST',
          port: 4104,
          allowedCallingAeTitles: [],
          maxAssociations: 8,
          ...negotiation,
        },
        configVersion: 3,
        recipientPublicKey: publicJwk as { kty: string; crv: string; x: string },
      },
    );
    expect(config).toMatchObject({ ...negotiation, configVersion: 3 });
    // A group is written member by member: the local upload.retentionHours stays.
    expect(agentConfigSchema.parse(config)).toMatchObject({
      ...negotiation,
      upload: { parallelism: 2, retentionHours: 5 },
    });
  });
});

describe('checkLocalSettings', () => {
  it('accepts no file, or local settings alongside fields enrollment will replace', () => {
    expect(() => checkLocalSettings(undefined, '/d')).not.toThrow();
    expect(() =>
      checkLocalSettings({ host: '127.0.0.1', logPhi: false, aeTitle: 'bad\\title', port: 0 }, '/d'),
    ).not.toThrow();
  });

  it('refuses invalid or unknown local settings before a token is spent', () => {
    for (const bad of [{ host: '' }, { tls: { cert: 'c' } }, { colour: 'blue' }]) {
      let err: unknown;
      try {
        checkLocalSettings(bad, '/d');
      } catch (e) {
        err = e;
      }
      expect(isFerryError(err, 'config.invalid')).toBe(true);
      expect((err as Error).message).toContain('/d/agent.json');
    }
  });
});
