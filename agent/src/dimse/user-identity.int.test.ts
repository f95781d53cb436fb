// User Identity Negotiation against real DCMTK storescu: the userIdentity setting is applied live
// through the config applier to a real listener and spool, as a pushed config would be.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GATEWAY_CONFIG_DEFAULTS, type GatewayDesiredConfig } from '@ferry/shared';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { echoscu, storescu } from '../../../test/harness/dcmtk.js';
import { encodeAssociateRq, RawScu } from '../../../test/harness/raw-scu.js';
import { openLiveListener } from '../../../testkit/agent/live-listener.js';
import { openTempSpool, removeTempSpool, SAMPLES_DIR, type TempSpool } from '../../../testkit/agent/spool.js';
import { readRawAgentConfig } from '../config.js';
import type { LiveConfigApplier } from '../live-config/config-applier.js';
import { hashIdentityPassword } from './identity-password.js';
import type { DicomListener } from './listener.js';

const SAMPLE = join(SAMPLES_DIR, 'CT_small.dcm');

let t: TempSpool;
let listener: DicomListener;
let applier: LiveConfigApplier;
let port: number;
let version = 0;
const logged: Record<string, unknown>[] = [];

beforeEach(async () => {
  t = await openTempSpool();
  const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  ({ listener, applier, port } = await openLiveListener(t, 'GATEWAY', log));
});

afterEach(async () => {
  logged.length = 0;
  await listener.close(true);
  await removeTempSpool(t);
});

async function require(userIdentity: unknown): Promise<void> {
  const config = {
    ...GATEWAY_CONFIG_DEFAULTS,
    aeTitle: 'GATEWAY',
    port,
    userIdentity,
  } as GatewayDesiredConfig;
  expect(await applier.apply(++version, config)).toEqual({ ok: true });
}

const send = (identity: string[]) =>
  storescu({ port, files: [SAMPLE], extraArgs: ['-d', ...identity], timeoutMs: 30_000 });

const rejections = () => logged.filter((l) => l.event === 'dicom.association_rejected');

describe('storescu with a user identity', () => {
  it('gets the positive response it asks for (-rsp) and stores, with no identity required', async () => {
    const r = await send(['--user', 'ct1', '--password', 'anything', '--pos-response']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/User Identity Negotiation Response:\s*\n.*Server Response/);
    expect(t.spool.entries()).toHaveLength(1);
  });

  it('with a password required: a wrong one is rejected (reason 1, logged without the secret), the right one stores', async () => {
    await require({
      require: 'username-password',
      users: [{ username: 'ct1', passwordHash: await hashIdentityPassword('s3cret pass') }],
    });
    expect(logged.filter((l) => l.event === 'dicom.policy_changed').at(-1)).toMatchObject({
      userIdentity: 'username-password',
    });
    const saved = JSON.stringify(await readRawAgentConfig(t.dir));
    expect(saved).toContain('"require":"username-password"');
    expect(saved).not.toContain('s3cret pass');

    const wrong = await send(['--user', 'ct1', '--password', 'wrong-one', '--pos-response']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(
      /Association Rejected:\s*\n.*Result: Rejected Permanent, Source: Service User\s*\n.*Reason: No Reason/,
    );
    const none = await send([]);
    expect(none.code).not.toBe(0);
    expect(rejections().map((l) => l.reason)).toEqual([
      'user identity refused: wrong password for username "ct1"',
      'user identity refused: a username and password is required and the request carries no user identity',
    ]);
    expect(rejections()[0]).toMatchObject({ result: 1, source: 1, rejectReason: 1 });
    expect(JSON.stringify(logged)).not.toContain('wrong-one');
    expect(t.spool.entries()).toHaveLength(0);

    const right = await send(['--user', 'ct1', '--password', 's3cret pass', '--pos-response']);
    expect(right.code, right.stderr).toBe(0);
    expect(t.spool.entries()).toHaveLength(1);
    // The setting guards storing: a C-ECHO (a modality's connection test, ferry-agent doctor) needs none.
    const echo = await echoscu({ port, timeoutMs: 30_000 });
    expect(echo.code, echo.stderr).toBe(0);
  });

  it('aborts an A-ASSOCIATE-RQ whose user identity sub-item is malformed (invalid PDU parameter value)', async () => {
    // The user information item is the PDU's last: append a 0x58 whose primary field overruns it.
    const rq = encodeAssociateRq();
    let at = 6 + 68;
    while (rq[at] !== 0x50) at += 4 + rq.readUInt16BE(at + 2);
    const bad = Buffer.from([0x58, 0, 0, 7, 1, 1, 0, 40, 0x61, 0, 0]);
    const pdu = Buffer.concat([rq, bad]);
    pdu.writeUInt32BE(pdu.length - 6, 2);
    pdu.writeUInt16BE(rq.readUInt16BE(at + 2) + bad.length, at + 2);
    const scu = await RawScu.connect(port);
    try {
      await scu.sendRaw(pdu);
      expect(await scu.nextPdu(5000)).toMatchObject({ type: 0x07, body: Buffer.from([0, 0, 2, 6]) });
    } finally {
      scu.destroy();
    }
    expect(logged.find((l) => l.event === 'dicom.abort')?.reason).toMatch(
      /user identity sub-item primary field of 40 bytes runs past its 7-byte sub-item/,
    );
  });

  it('with a JWT required: an expired token is rejected, a good one stores', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA');
    await require({ require: 'jwt', jwks: { keys: [await exportJWK(publicKey)] }, audience: 'ferry' });
    const token = (exp: number | string) =>
      new SignJWT({ sub: 'ct1', aud: 'ferry' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setExpirationTime(exp)
        .sign(privateKey);
    const file = join(t.dir, 'token.jwt');

    await writeFile(file, await token(Math.floor(Date.now() / 1000) - 3600));
    const expired = await send(['--jwt', file]);
    expect(expired.code).not.toBe(0);
    expect(rejections().map((l) => l.reason)).toEqual(['user identity refused: JWT refused: it has expired']);

    await writeFile(file, await token('5m'));
    const good = await send(['--jwt', file, '--pos-response']);
    expect(good.code, good.stderr).toBe(0);
    expect(t.spool.entries()).toHaveLength(1);
  });
});
