import { describe, expect, it } from 'vitest';
import { diagnosticRequestSchema } from './channel.js';
import {
  type DicomPeer,
  dicomPeersSchema,
  findListedPeer,
  hostProblem,
  MAX_DICOM_PEERS,
} from './dicom-peers.js';
import {
  configForProtocol,
  GATEWAY_CONFIG_DEFAULTS,
  gatewayConfigV2Schema,
  gatewaySettingsSchema,
  mergeGatewayConfig,
} from './gateway-config.js';

const pacs: DicomPeer = {
  name: 'Main PACS',
  aeTitle: 'PACS',
  host: 'pacs.hospital.example',
  port: 104,
  tls: false,
};
const ct: DicomPeer = { name: 'CT 1', aeTitle: 'CT1', host: '10.1.2.3', port: 11112, tls: true };

/** The field paths of a failed parse, as the API names them. */
function problems(value: unknown): string[] {
  const r = gatewaySettingsSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('DICOM peers', () => {
  it.each([
    ['pacs.hospital.example', undefined],
    ['PACS-01', undefined],
    ['10.0.0.7', undefined],
    ['fd00::1', undefined],
    ['', 'must not be empty'],
    ['999.1.1.1', 'is not a valid IPv4 address'],
    ['pacs.example:104', expect.stringMatching(/without a port/)],
    ['http://pacs', expect.stringMatching(/host name/)],
    ['-pacs', expect.stringMatching(/host name/)],
    ['a'.repeat(254), 'must be at most 253 characters (got 254)'],
  ])('host %j -> %s', (host, problem) => {
    expect(hostProblem(host)).toEqual(problem);
  });

  it('parses a list: trims, lower-cases the host, TLS off unless asked', () => {
    const [p] = dicomPeersSchema.parse([
      { name: ' Main PACS ', aeTitle: ' PACS ', host: 'PACS.Hospital.Example', port: 104 },
    ]);
    expect(p).toEqual(pacs);
  });

  it('names the field of every problem', () => {
    expect(
      problems({
        peers: [
          { name: '', aeTitle: 'A\\B', host: 'pacs:104', port: 0, tls: 'yes' },
          { name: 'x', aeTitle: 'X', host: 'x', port: 1, colour: 'blue' },
        ],
      }),
    ).toEqual([
      'peers.0.name: must not be empty',
      'peers.0.aeTitle: AE title must not contain a backslash',
      expect.stringMatching(/^peers\.0\.host: must be a host name .* without a port$/),
      expect.stringMatching(/^peers\.0\.port: /),
      expect.stringMatching(/^peers\.0\.tls: /),
      expect.stringMatching(/^peers\.1: .*colour/),
    ]);
  });

  it('refuses names used twice (ignoring case) and lists that are too long', () => {
    expect(problems({ peers: [pacs, { ...ct, name: 'main pacs' }] })).toEqual([
      'peers.1.name: "main pacs" is already the name of another peer; names must be unique',
    ]);
    const many = Array.from({ length: MAX_DICOM_PEERS + 1 }, (_, i) => ({ ...pacs, name: `PACS ${i}` }));
    expect(problems({ peers: many })).toEqual([expect.stringMatching(/^peers: .*64/)]);
  });

  it('inherit like the other settings: the facility list replaces the group list, none by default', () => {
    const facility = { aeTitle: 'GW', stablePeriodSeconds: 60 };
    expect(mergeGatewayConfig(facility, {}, {}).peers).toEqual([]);
    expect(mergeGatewayConfig(facility, { peers: [pacs] }, {}).peers).toEqual([pacs]);
    expect(mergeGatewayConfig(facility, { peers: [pacs] }, { peers: [ct] }).peers).toEqual([ct]);
    expect(mergeGatewayConfig(facility, { peers: [pacs] }, { peers: [] }).peers).toEqual([]);
  });

  it('a pushed config from before peers existed has none', () => {
    const { peers: _, ...old } = { ...GATEWAY_CONFIG_DEFAULTS, aeTitle: 'GW' };
    expect(gatewayConfigV2Schema.parse(old).peers).toEqual([]);
  });
});

describe('findListedPeer', () => {
  const peers = [pacs, ct];

  it('finds a peer by name, or by host and port, with every given field matching', () => {
    expect(findListedPeer(peers, { peer: 'CT 1' })).toBe(ct);
    expect(findListedPeer(peers, { host: 'PACS.hospital.example', port: 104 })).toBe(pacs);
    expect(findListedPeer(peers, { host: '10.1.2.3', port: 11112, calledAeTitle: 'CT1', tls: true })).toBe(
      ct,
    );
    expect(findListedPeer(peers, { peer: 'Main PACS', host: 'pacs.hospital.example', port: 104 })).toBe(pacs);
  });

  it('matches nothing when any given field differs, or when no peer is named', () => {
    expect(findListedPeer(peers, { peer: 'Nobody' })).toBeUndefined();
    expect(findListedPeer(peers, { host: '10.1.2.3', port: 22 })).toBeUndefined();
    expect(findListedPeer(peers, { host: '169.254.169.254', port: 80 })).toBeUndefined();
    expect(findListedPeer(peers, { host: '10.1.2.3', port: 11112, calledAeTitle: 'PACS' })).toBeUndefined();
    expect(findListedPeer(peers, { host: '10.1.2.3', port: 11112, tls: false })).toBeUndefined();
    // A listed name with another host is not that peer.
    expect(
      findListedPeer(peers, { peer: 'CT 1', host: 'pacs.hospital.example', port: 11112 }),
    ).toBeUndefined();
    expect(findListedPeer(peers, { host: '10.1.2.3' })).toBeUndefined();
    expect(findListedPeer([], { peer: 'CT 1' })).toBeUndefined();
  });

  it('an echo request names a peer, or gives a host and port', () => {
    expect(diagnosticRequestSchema.safeParse({ kind: 'echo', peer: 'CT 1' }).success).toBe(true);
    expect(diagnosticRequestSchema.safeParse({ kind: 'echo', host: 'pacs', port: 104 }).success).toBe(true);
    const neither = diagnosticRequestSchema.safeParse({ kind: 'echo', calledAeTitle: 'PACS' });
    expect(neither.success).toBe(false);
    expect(neither.error?.issues[0]?.message).toBe('name a listed peer (peer), or give its host and port');
  });
});

describe('configForProtocol', () => {
  const config = mergeGatewayConfig(
    { aeTitle: 'CT', stablePeriodSeconds: 60 },
    {},
    { upload: { compression: 'image' } },
  );

  it('gives a protocol-8 agent no upload.compression (its strict upload group would refuse it)', () => {
    const old = configForProtocol(config, 8);
    expect(old.upload).not.toHaveProperty('compression');
    expect(old.upload.parallelism).toBe(config.upload.parallelism);
    expect(config.upload.compression).toBe('image');
  });

  it('gives protocol 9 and later the whole config', () => {
    expect(configForProtocol(config, 9)).toBe(config);
    expect(gatewayConfigV2Schema.parse(configForProtocol(config, 9)).upload.compression).toBe('image');
  });
});
