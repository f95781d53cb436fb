import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  classAllowed,
  classifyAddress,
  classifyHostName,
  parseIPv6,
} from './address-policy.js';
import { shownDeliveryError } from './delivery-failure.js';

describe('webhook address policy', () => {
  it.each<[string, AddressClass]>([
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['172.32.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.254', 'shared'],
    ['169.254.1.1', 'link_local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456:789a::1', 'unique_local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    // IPv4-mapped, in both spellings, and the other IPv6 forms that carry an IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'loopback'],
    ['::ffff:10.0.0.5', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:100.64.0.1', 'shared'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['64:ff9b::808:808', 'public'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:808:808::1', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['not an address', 'reserved'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it('parses IPv6 in every spelling to the same number', () => {
    expect(parseIPv6('::ffff:1.2.3.4')).toBe(parseIPv6('0:0:0:0:0:ffff:102:304'));
    expect(parseIPv6('1:2:3:4:5:6:7:8')?.toString(16)).toBe('10002000300040005000600070008');
    expect(parseIPv6('1.2.3.4')).toBeUndefined();
  });

  it('allows public addresses, and private and loopback ones only when asked', () => {
    for (const cls of ['loopback', 'private', 'unique_local', 'shared'] as const) {
      expect(classAllowed(cls, { allowPrivate: false })).toBe(false);
      expect(classAllowed(cls, { allowPrivate: true })).toBe(true);
    }
    for (const cls of ['metadata', 'link_local', 'unspecified', 'multicast', 'reserved'] as const)
      expect(classAllowed(cls, { allowPrivate: true })).toBe(false);
    expect(classAllowed('public', { allowPrivate: false })).toBe(true);
  });

  it('names metadata hosts and localhost before any lookup', () => {
    expect(classifyHostName('metadata.google.internal')).toBe('metadata');
    expect(classifyHostName('METADATA.google.internal.')).toBe('metadata');
    expect(classifyHostName('localhost')).toBe('loopback');
    expect(classifyHostName('api.localhost')).toBe('loopback');
    expect(classifyHostName('alerts.example.org')).toBeUndefined();
  });

  it('shows stored delivery errors as short reasons only', () => {
    expect(shownDeliveryError(null)).toBeNull();
    expect(shownDeliveryError('HTTP 500')).toBe('HTTP 500');
    expect(shownDeliveryError('connection refused')).toBe('connection refused');
    // What earlier versions stored.
    expect(shownDeliveryError('ECONNREFUSED')).toBe('connection refused');
    expect(shownDeliveryError('connect ECONNREFUSED 10.0.0.5:443')).toBe('connection refused');
    expect(shownDeliveryError('getaddrinfo ENOTFOUND hooks.corp.internal')).toBe('name not resolved');
    expect(shownDeliveryError('no answer within 10000 ms')).toBe('timed out');
    expect(shownDeliveryError('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('TLS error');
    expect(shownDeliveryError('fetch failed')).toBe('delivery failed');
  });
});
