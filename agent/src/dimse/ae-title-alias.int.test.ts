// AE title aliases against real DCMTK: a previous title pushed as an alias is accepted until its expiry
// and refused after it, without a new push.
import { join } from 'node:path';
import { GATEWAY_CONFIG_DEFAULTS, type GatewayDesiredConfig } from '@ferry/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { echoscu, storescu } from '../../../test/harness/dcmtk.js';
import { openLiveListener } from '../../../testkit/agent/live-listener.js';
import { openTempSpool, removeTempSpool, SAMPLES_DIR, type TempSpool } from '../../../testkit/agent/spool.js';
import type { LiveConfigApplier } from '../live-config/config-applier.js';
import type { DicomListener } from './listener.js';

let t: TempSpool;
let listener: DicomListener;
let applier: LiveConfigApplier;
let port: number;

beforeEach(async () => {
  t = await openTempSpool();
  ({ listener, applier, port } = await openLiveListener(t, 'OLD_CT', pino({ level: 'silent' })));
});

afterEach(async () => {
  await listener.close(true);
  await removeTempSpool(t);
});

it('accepts the old title until the alias expires, echoing the called title, then refuses it', async () => {
  const expiresAt = new Date(Date.now() + 4000).toISOString();
  const config = {
    ...GATEWAY_CONFIG_DEFAULTS,
    aeTitle: 'NEW_CT',
    aeTitleAliases: [{ aeTitle: 'OLD_CT', expiresAt }],
    port,
  } as GatewayDesiredConfig;
  expect(await applier.apply(1, config)).toEqual({ ok: true });

  const echo = await echoscu({ port, calledAe: 'OLD_CT', extraArgs: ['-d'] });
  expect(echo.code, echo.stderr).toBe(0);
  // The A-ASSOCIATE-AC names the title the sender called, not the new one.
  const ac = (echo.stdout + echo.stderr).split('Association Parameters Negotiated')[1] ?? '';
  expect(ac).toMatch(/Called Application Name:\s+OLD_CT/);
  const store = await storescu({ port, calledAe: 'OLD_CT', files: [join(SAMPLES_DIR, 'CT_small.dcm')] });
  expect(store.code, store.stderr).toBe(0);
  expect(t.spool.entries()).toHaveLength(1);
  expect((await echoscu({ port, calledAe: 'NEW_CT' })).code).toBe(0);
  expect(listener.stats().aeTitleAliases).toEqual([
    { aeTitle: 'OLD_CT', expiresAt, associations: 2, lastAt: expect.any(Date) },
  ]);

  // No new push: the expiry alone ends it.
  await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 50));
  const late = await echoscu({ port, calledAe: 'OLD_CT' });
  expect(late.code).not.toBe(0);
  expect(late.stdout + late.stderr).toMatch(/Called AE Title Not Recognized/i);
  expect((await echoscu({ port, calledAe: 'NEW_CT' })).code).toBe(0);
  expect(listener.stats().aeTitleAliases).toEqual([]);
});
