import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateRecipientKeyPair, keyIdOf, recipientKeyThumbprint } from '@ferry/shared';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  openSpooled,
  openTempSpool,
  removeTempSpool,
  sample,
  storeInstance,
  type TempSpool,
} from '../../../testkit/agent/spool.js';
import { RecipientKeyStore } from './recipient-key.js';

const silent = pino({ level: 'silent' });
const kidOf = (wrappedKey: string) =>
  (JSON.parse(Buffer.from(wrappedKey.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string })
    .kid;

describe('RecipientKeyStore', () => {
  let t: TempSpool;
  let store: RecipientKeyStore;

  beforeEach(async () => {
    t = await openTempSpool();
    await writeFile(join(t.dir, 'agent.json'), JSON.stringify({ recipientPublicKey: t.keys.publicJwk }));
    store = new RecipientKeyStore({ dataDir: t.dir, spool: t.spool, log: silent });
  });
  afterEach(() => removeTempSpool(t));

  it('keeps a rotated key in agent.json and seals the next object for it, in a new epoch; the old object still opens', async () => {
    const ct = await sample('CT_small.dcm');
    const before = await storeInstance(t.spool, ct.req, ct.dataset);
    const next = await generateRecipientKeyPair();
    const thumbprint = await recipientKeyThumbprint(next.publicJwk);

    expect(await store.apply(next.publicJwk, thumbprint)).toBe(true);
    expect(await store.thumbprint()).toBe(thumbprint);
    const kept = JSON.parse(await readFile(join(t.dir, 'agent.json'), 'utf8')) as {
      recipientPublicKey: unknown;
    };
    expect(kept.recipientPublicKey).toEqual(next.publicJwk);

    const mr = await sample('MR_small.dcm');
    const after = await storeInstance(t.spool, mr.req, mr.dataset);
    const old = await openSpooled(t.spool, before.id, t.keys.privateJwk);
    const fresh = await openSpooled(t.spool, after.id, next.privateJwk);
    expect(kidOf(old.header.wrappedKey)).toBe(keyIdOf(t.keys.publicJwk));
    expect(kidOf(fresh.header.wrappedKey)).toBe(keyIdOf(next.publicJwk));
    expect(fresh.plain.length).toBeGreaterThan(0);
    // The same key again changes nothing.
    expect(await store.apply(next.publicJwk, thumbprint)).toBe(false);
  });

  it('refuses a key whose thumbprint does not match it, and keeps sealing for the one in use', async () => {
    const next = await generateRecipientKeyPair();
    const other = await generateRecipientKeyPair();
    const was = await store.thumbprint();
    expect(await store.apply(next.publicJwk, await recipientKeyThumbprint(other.publicJwk))).toBe(false);
    expect(await store.thumbprint()).toBe(was);
    const kept = JSON.parse(await readFile(join(t.dir, 'agent.json'), 'utf8')) as {
      recipientPublicKey: unknown;
    };
    expect(kept.recipientPublicKey).toEqual(t.keys.publicJwk);
  });
});
