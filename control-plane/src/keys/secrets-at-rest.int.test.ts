// Secrets the database holds are sealed with a key that only the key file holds (issue 13, section 2):
// the rows read straight from PGlite and PostgreSQL hold no usable secret, a session signed with what
// the database holds is refused, and rows from before sealing are sealed in place at start.
import { randomBytes } from 'node:crypto';
import { generateRecipientKeyPair } from '@ferry/shared';
import { eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  createTestApp,
  type SeededGroup,
  sessionTokenFor,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import { loadSessionSecret } from '../auth/session.js';
import { systemCtx } from '../context.js';
import { rowsOf } from '../db/queries/gateway-channel.js';
import { webhooks } from '../db/schema/index.js';
import { createWebhook } from '../services/create-webhook.js';
import { loadBlobSigningSecret } from '../storage/part-signature.js';
import { WEBHOOK_SECRET_PURPOSE } from '../webhooks/signature.js';
import { sealStoredWebhookSecrets } from './seal-stored-secrets.js';
import { SecretBox } from './secret-box.js';

const log = pino({ level: 'silent' });

describe.each(BACKENDS)('secrets at rest (%s)', (backend) => {
  let t: TestApp;
  let g: SeededGroup;

  beforeAll(async () => {
    t = await createTestApp(backend);
    g = await t.seedGroup();
  }, 60_000);
  afterAll(() => t?.close());

  const setting = async (key: string) =>
    rowsOf<{ value: string }>(
      await t.database.db.execute(sql`select value from settings where key = ${key}`),
    )[0]?.value;
  const signedWith = (secret: Uint8Array) =>
    sessionTokenFor(t, { ...g.admin, groupId: g.groupId, role: 'admin' }, { secret });

  it('the session and URL signing secrets are ciphertext in their rows; a session signed with a row is refused', async () => {
    const real = Buffer.from(t.deps.sessionSecret).toString('base64url');
    for (const key of ['session_secret', 'blob_signing_secret']) {
      const value = (await setting(key)) ?? '';
      expect(value).toMatch(/^fsec1\./);
      expect(value).not.toContain(real);
    }
    const row = (await setting('session_secret')) ?? '';
    // What a database backup alone offers, read either way: neither signs a session the app accepts.
    for (const forged of [Buffer.from(row, 'base64url'), Buffer.from(row, 'utf8')]) {
      const res = await t.request('GET', '/api/v1/facilities', { token: await signedWith(forged) });
      expect(res.status).toBe(401);
    }
    const ok = await t.request('GET', '/api/v1/facilities', {
      token: await signedWith(t.deps.sessionSecret),
    });
    expect(ok.status).toBe(200);
  });

  it('a webhook secret is shown once in the clear and stored sealed', async () => {
    const made = await createWebhook({
      ctx: {
        ...systemCtx(t.database.db, log, 'secrets-test'),
        actor: { kind: 'user', userId: g.admin.id, groupId: g.groupId, role: 'admin', isOperator: false },
      },
      input: { url: 'http://127.0.0.1:9/hook', allowPrivateAddresses: true },
      deps: { secrets: t.deps.secretBox },
    });
    expect(made.secret).toMatch(/^whsec_/);
    const [row] = rowsOf<{ secret: string }>(
      await t.database.db.execute(sql`select secret from webhooks where id = ${made.id}`),
    );
    expect(row?.secret).toMatch(/^fsec1\./);
    expect(row?.secret).not.toContain(made.secret.slice('whsec_'.length));
    expect(t.deps.secretBox.open(row?.secret ?? '', WEBHOOK_SECRET_PURPOSE)).toBe(made.secret);
  });

  it('plaintext secrets from before sealing are sealed in place at start, and keep their values', async () => {
    const plainSession = randomBytes(32).toString('base64url');
    await t.database.db.execute(
      sql`update settings set value = ${plainSession} where key = 'session_secret'`,
    );
    const [hook] = await t.database.db.select({ id: webhooks.id }).from(webhooks).limit(1);
    await t.database.db.update(webhooks).set({ secret: 'whsec_plain' }).where(eq(webhooks.id, hook!.id));

    const box = t.deps.secretBox;
    expect(Buffer.from(await loadSessionSecret(t.database.db, box)).toString('base64url')).toBe(plainSession);
    expect(await sealStoredWebhookSecrets({ db: t.database.db, box, log })).toBe(1);
    const sealed = (await setting('session_secret')) ?? '';
    expect(sealed).toMatch(/^fsec1\./);
    expect(box.open(sealed, 'session_secret')).toBe(plainSession);
    const [after] = await t.database.db
      .select({ secret: webhooks.secret })
      .from(webhooks)
      .where(eq(webhooks.id, hook!.id));
    expect(box.open(after?.secret ?? '', WEBHOOK_SECRET_PURPOSE)).toBe('whsec_plain');
    // Loading again reads the sealed value, the same secret.
    expect(Buffer.from(await loadSessionSecret(t.database.db, box)).toString('base64url')).toBe(plainSession);
    expect(await sealStoredWebhookSecrets({ db: t.database.db, box, log })).toBe(0);
  });

  it('with another key file the secrets do not open: crypto.secret_unreadable', async () => {
    const { privateJwk } = await generateRecipientKeyPair();
    const other = new SecretBox(() => [privateJwk]);
    await expect(loadBlobSigningSecret(t.database.db, other)).rejects.toMatchObject({
      code: 'crypto.secret_unreadable',
    });
  });
});
