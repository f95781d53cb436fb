import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { loadEnv } from './env.js';

describe('control plane settings', () => {
  it('has embedded defaults', () => {
    const env = loadEnv({});
    expect(env.databaseUrl).toBeUndefined();
    expect(env.httpPort).toBe(8080);
    expect(env.publicUrl).toBe('http://127.0.0.1:8080');
    expect(env.keyFile.endsWith('keys/recipient.private.jwk')).toBe(true);
  });

  it('serves the agent release npm run bundle:agent writes, or FERRY_AGENT_RELEASE', () => {
    const repo = fileURLToPath(new URL('../../', import.meta.url));
    expect(loadEnv({}).agentReleaseFile).toBe(join(repo, 'agent', 'release', 'ferry-agent-linux-x64.tar.gz'));
    expect(loadEnv({ FERRY_AGENT_RELEASE: '/srv/ferry/agent.tar.gz' }).agentReleaseFile).toBe(
      '/srv/ferry/agent.tar.gz',
    );
  });

  it('serves HTTPS, and says so in its default public URL, only with both TLS files', () => {
    expect(loadEnv({}).tls).toBeUndefined();
    const e = loadEnv({ FERRY_TLS_CERT: '/etc/ferry/cert.pem', FERRY_TLS_KEY: '/etc/ferry/key.pem' });
    expect(e.tls).toEqual({ certFile: '/etc/ferry/cert.pem', keyFile: '/etc/ferry/key.pem' });
    expect(e.publicUrl).toBe('https://127.0.0.1:8080');
  });

  it('chooses S3 only when a bucket is set', () => {
    expect(loadEnv({}).s3).toBeUndefined();
    expect(loadEnv({ FERRY_S3_BUCKET: 'ferry-blobs', FERRY_S3_FORCE_PATH_STYLE: 'true' }).s3).toEqual({
      bucket: 'ferry-blobs',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: true,
      requestTimeoutMs: 20_000,
    });
    expect(
      loadEnv({ FERRY_S3_BUCKET: 'ferry-blobs', FERRY_S3_TIMEOUT_SECONDS: '2.5' }).s3?.requestTimeoutMs,
    ).toBe(2_500);
    expect(() => loadEnv({ FERRY_S3_BUCKET: 'ferry-blobs', FERRY_S3_TIMEOUT_SECONDS: '0' })).toThrow(
      /FERRY_S3_TIMEOUT_SECONDS/,
    );
  });

  it('hashes passwords at production cost (scrypt N=2^17) unless FERRY_PASSWORD_COST says otherwise, within 10-20', () => {
    expect(loadEnv({}).passwordCost).toBe(17);
    expect(loadEnv({ FERRY_PASSWORD_COST: '10' }).passwordCost).toBe(10);
    for (const bad of ['9', '21', '12.5', 'low']) {
      let error: unknown;
      try {
        loadEnv({ FERRY_PASSWORD_COST: bad });
      } catch (err) {
        error = err;
      }
      expect(isFerryError(error, 'config.invalid'), bad).toBe(true);
      expect((error as Error).message).toContain('FERRY_PASSWORD_COST');
    }
  });

  it('reads the channel settings: heartbeat (fractional allowed), resync and replica id', () => {
    const d = loadEnv({});
    expect(d.heartbeatSeconds).toBe(30);
    expect(d.configResyncSeconds).toBe(300);
    expect(d.replicaId).toMatch(new RegExp(`-${process.pid}$`));
    const e = loadEnv({
      FERRY_HEARTBEAT_SECONDS: '0.5',
      FERRY_CONFIG_RESYNC_SECONDS: '60',
      FERRY_REPLICA_ID: 'cp-2',
    });
    expect([e.heartbeatSeconds, e.configResyncSeconds, e.replicaId]).toEqual([0.5, 60, 'cp-2']);
  });

  it('takes FERRY_SMTP_URL as smtp:// or smtps://, unset by default', () => {
    expect(loadEnv({}).smtpUrl).toBeUndefined();
    expect(loadEnv({ FERRY_SMTP_URL: 'smtps://u:p@mail.example.org:465' }).smtpUrl).toBe(
      'smtps://u:p@mail.example.org:465',
    );
  });

  it('allows private webhook receivers only with FERRY_WEBHOOK_ALLOW_PRIVATE=true', () => {
    expect(loadEnv({}).webhookAllowPrivate).toBe(false);
    expect(loadEnv({ FERRY_WEBHOOK_ALLOW_PRIVATE: 'false' }).webhookAllowPrivate).toBe(false);
    expect(loadEnv({ FERRY_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhookAllowPrivate).toBe(true);
  });

  it('reads FERRY_TRUSTED_PROXIES as addresses and CIDRs (IPv4 and IPv6); unset trusts no peer', () => {
    expect(loadEnv({}).trustedProxies).toBeUndefined();
    const list = loadEnv({ FERRY_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32' }).trustedProxies!;
    expect(list.check('10.20.30.40', 'ipv4')).toBe(true);
    expect(list.check('192.0.2.7', 'ipv4')).toBe(true);
    expect(list.check('192.0.2.8', 'ipv4')).toBe(false);
    expect(list.check('2001:db8::1', 'ipv6')).toBe(true);
    expect(list.check('2001:db9::1', 'ipv6')).toBe(false);
  });

  it('reads FERRY_CORS_ORIGINS as exact origins, by commas or spaces; unset or empty allows none', () => {
    expect(loadEnv({}).corsOrigins).toEqual(new Set());
    expect(loadEnv({ FERRY_CORS_ORIGINS: ' ' }).corsOrigins).toEqual(new Set());
    expect(
      loadEnv({ FERRY_CORS_ORIGINS: 'https://viewer.example.org, http://localhost:3000 https://b.example/' })
        .corsOrigins,
    ).toEqual(new Set(['https://viewer.example.org', 'http://localhost:3000', 'https://b.example']));
  });

  it.each([
    ['*', 'is not allowed'],
    ['viewer.example.org', 'is not an origin'],
    ['ftp://viewer.example.org', 'must be http:// or https://'],
    ['https://viewer.example.org/ohif', 'must be an origin only'],
    ['https://a.example, https://viewer.example.org?x=1', 'must be an origin only'],
  ])('refuses FERRY_CORS_ORIGINS=%j and says what is wrong', (value, why) => {
    let error: unknown;
    try {
      loadEnv({ FERRY_CORS_ORIGINS: value });
    } catch (err) {
      error = err;
    }
    expect(isFerryError(error, 'config.invalid')).toBe(true);
    expect((error as Error).message).toContain('FERRY_CORS_ORIGINS');
    expect((error as Error).message).toContain(why);
  });

  it.each([
    [{ FERRY_TRUSTED_PROXIES: 'proxy.example' }, 'FERRY_TRUSTED_PROXIES'],
    [{ FERRY_TRUSTED_PROXIES: '10.0.0.0/33' }, 'FERRY_TRUSTED_PROXIES'],
    [{ FERRY_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.0/8/1' }, 'FERRY_TRUSTED_PROXIES'],
    [{ FERRY_TRUSTED_PROXIES: '2001:db8::/129' }, 'FERRY_TRUSTED_PROXIES'],
    [{ FERRY_HEARTBEAT_SECONDS: '0' }, 'FERRY_HEARTBEAT_SECONDS'],
    [{ FERRY_CONFIG_RESYNC_SECONDS: 'often' }, 'FERRY_CONFIG_RESYNC_SECONDS'],
    [{ FERRY_REPLICA_ID: 'has space' }, 'FERRY_REPLICA_ID'],
    [{ FERRY_HTTP_PORT: 'eighty' }, 'FERRY_HTTP_PORT'],
    [{ FERRY_DATABASE_URL: 'mysql://x' }, 'FERRY_DATABASE_URL'],
    [{ FERRY_PUBLIC_URL: 'not a url' }, 'FERRY_PUBLIC_URL'],
    [{ FERRY_ADMIN_EMAIL: 'nobody' }, 'FERRY_ADMIN_EMAIL'],
    [{ FERRY_SMTP_URL: 'https://mail.example.org' }, 'FERRY_SMTP_URL'],
    [{ FERRY_ADMIN_PASSWORD: 'short' }, 'FERRY_ADMIN_PASSWORD'],
    [{ FERRY_S3_BUCKET: 'Not_A_Bucket' }, 'FERRY_S3_BUCKET'],
    [{ FERRY_S3_ENDPOINT: '127.0.0.1:7480' }, 'FERRY_S3_ENDPOINT'],
    [{ FERRY_S3_FORCE_PATH_STYLE: 'yes' }, 'FERRY_S3_FORCE_PATH_STYLE'],
    [{ FERRY_WEBHOOK_ALLOW_PRIVATE: 'yes' }, 'FERRY_WEBHOOK_ALLOW_PRIVATE'],
    [{ FERRY_TLS_CERT: '/etc/ferry/cert.pem' }, 'FERRY_TLS_KEY'],
    [{ FERRY_TLS_KEY: '/etc/ferry/key.pem' }, 'FERRY_TLS_CERT'],
  ])('fails fast and names the variable: %j', (source, name) => {
    let error: unknown;
    try {
      loadEnv(source);
    } catch (err) {
      error = err;
    }
    expect(isFerryError(error, 'config.invalid')).toBe(true);
    expect((error as Error).message).toContain(name);
  });
});
