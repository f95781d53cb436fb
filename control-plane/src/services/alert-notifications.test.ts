import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestApp,
  enrollTestGateway,
  type SeededGroup,
  type TestApp,
} from '../../../testkit/control-plane/harness.js';
import {
  condition,
  healthReport,
  seedGatewayStatus,
} from '../../../testkit/control-plane/seed-gateway-status.js';
import { type Ctx, systemCtx } from '../context.js';
import { alertNotifications, alerts, notificationChannels } from '../db/schema/index.js';
import { userActor } from '../edge/auth-middleware.js';
import { createSmtpMailer } from '../webhooks/smtp-mailer.js';
import { createNotificationChannel } from './create-notification-channel.js';
import { deliverAlertNotifications } from './deliver-alert-notifications.js';
import { syncAlerts } from './sync-alerts.js';

interface Mail {
  from: string;
  to: string[];
  body: string;
  user: string | undefined;
}

/** A real SMTP server on loopback that requires a login and keeps what it receives. */
async function startSmtp(): Promise<{
  port: number;
  mails: Mail[];
  logins: string[];
  close(): Promise<void>;
}> {
  const mails: Mail[] = [];
  const logins: string[] = [];
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push(`${auth.username}:${auth.password}`);
      if (auth.username === 'ferry' && auth.password === 's3cret pass')
        return cb(null, { user: auth.username });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          // Undo quoted-printable soft line breaks, so assertions read the text as sent.
          body: Buffer.concat(chunks).toString('utf8').replace(/=\r\n/g, ''),
          user: session.user as string | undefined,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, logins, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A real HTTP receiver standing in for Slack/Teams: it keeps every JSON body. */
async function startChatReceiver(): Promise<{ url: string; bodies: unknown[]; server: Server }> {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      bodies.push({ contentType: req.headers['content-type'], body: JSON.parse(raw) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXX`,
    bodies,
    server,
  };
}

describe('alert notices by e-mail (real SMTP) and Slack/Teams format (real HTTP)', () => {
  let t: TestApp;
  let g: SeededGroup;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let chat: Awaited<ReturnType<typeof startChatReceiver>>;
  let sys: Ctx;
  const logLines: string[] = [];

  beforeAll(async () => {
    t = await createTestApp('pglite');
    g = await t.seedGroup('Alerts group');
    smtp = await startSmtp();
    chat = await startChatReceiver();
    const log = pino({ level: 'info' }, { write: (s: string) => logLines.push(s) });
    sys = systemCtx(t.database.db, log, 'alerts-test');
    const admin: Ctx = {
      ...sys,
      actor: userActor({ id: g.admin.id, groupId: g.groupId, role: 'admin', isOperator: false }),
    };
    await createNotificationChannel({
      ctx: admin,
      input: { kind: 'email', target: 'Oncall@Example.org' },
      deps: { secrets: t.deps.secretBox },
    });
    await createNotificationChannel({
      ctx: admin,
      input: { kind: 'chat', target: chat.url },
      deps: { secrets: t.deps.secretBox },
    });
  });
  afterAll(async () => {
    await smtp?.close();
    chat?.server.close();
    await t?.close();
  });
  beforeEach(() => {
    smtp.mails.length = 0;
    chat.bodies.length = 0;
  });

  /** One tick of the alerts job, with a fresh mailer each time as after a restart. */
  async function tick(quietSeconds = 0): Promise<void> {
    await syncAlerts({ ctx: sys, input: { quietSeconds } });
    const mailer = createSmtpMailer(
      `smtp://ferry:s3cret%20pass@127.0.0.1:${smtp.port}?from=alerts@ferry.test`,
    );
    try {
      await deliverAlertNotifications({
        ctx: sys,
        input: { consoleUrl: 'https://ferry.example.org', allowPrivateAddresses: true },
        deps: { secrets: t.deps.secretBox, mailer },
      });
    } finally {
      mailer.close();
    }
  }

  it('offline → one e-mail and one chat message; restarts do not re-send; back → one recovery each', async () => {
    const gw = await enrollTestGateway(t, g, { hostname: 'ct-room-1' });
    await seedGatewayStatus(t.database.db, gw.gatewayId, {
      status: 'offline',
      statusSince: new Date(Date.now() - 5000),
    });
    await tick(3600);
    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.to).toEqual(['oncall@example.org']);
    expect(mail.from).toBe('alerts@ferry.test');
    expect(mail.user).toBe('ferry');
    expect(mail.body).toContain('Subject: [Ferry] ERROR gateway.offline on ct-room-1');
    expect(mail.body).toContain(`https://ferry.example.org/gateways/${gw.gatewayId}`);
    expect(chat.bodies).toEqual([
      {
        contentType: 'application/json',
        body: { text: expect.stringContaining('[Ferry] ERROR gateway.offline on ct-room-1') },
      },
    ]);

    // Ticks again, each with a new mailer as after a control-plane restart: nothing new is sent.
    await tick(3600);
    await tick(3600);
    expect(smtp.mails).toHaveLength(1);
    expect(chat.bodies).toHaveLength(1);

    await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'online', health: healthReport() });
    await tick(0); // cleared
    await tick(0); // quiet period (0 s) over: closed, recovery due and sent
    await tick(0);
    expect(smtp.mails.map((m) => /Subject: (.*)/.exec(m.body)?.[1])).toEqual([
      expect.stringContaining('[Ferry] ERROR gateway.offline on ct-room-1'),
      expect.stringContaining('[Ferry] RECOVERED gateway.offline on ct-room-1'),
    ]);
    expect(chat.bodies).toHaveLength(2);
    const open = await t.database.db.select().from(alerts).where(eq(alerts.gatewayId, gw.gatewayId));
    expect(open.map((a) => a.closedAt !== null)).toEqual([true]);
    // The SMTP password never reaches the log.
    expect(logLines.join('\n')).not.toContain('s3cret');
    expect(logLines.join('\n')).toContain('alert.notified');
  });

  it('a flapping gateway makes one notice and one recovery, not one per flap', async () => {
    const gw = await enrollTestGateway(t, g, { hostname: 'mr-flappy' });
    const report = healthReport({ conditions: [condition('upload.stalled', 'warning')] });
    for (let i = 0; i < 4; i++) {
      await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'offline' });
      await tick(3600);
      await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'degraded', health: report });
      await tick(3600);
    }
    const subjects = () => smtp.mails.map((m) => /Subject: (.*)/.exec(m.body)?.[1] ?? '');
    expect(subjects()).toEqual([
      expect.stringMatching(/^\[Ferry\] ERROR gateway\.offline on mr-flappy/),
      expect.stringMatching(/^\[Ferry\] WARNING upload\.stalled on mr-flappy/),
    ]);
    expect(chat.bodies).toHaveLength(2);
    // Stable for the quiet period: one recovery for the offline episode; the warning stays open.
    await tick(0);
    expect(subjects()).toHaveLength(3);
    expect(subjects()[2]).toMatch(/^\[Ferry\] RECOVERED gateway\.offline on mr-flappy/);
    expect(chat.bodies).toHaveLength(3);
    const rows = await t.database.db
      .select({ kind: alertNotifications.kind, n: sql<number>`count(*)::int` })
      .from(alertNotifications)
      .innerJoin(alerts, eq(alerts.id, alertNotifications.alertId))
      .where(eq(alerts.gatewayId, gw.gatewayId))
      .groupBy(alertNotifications.kind);
    expect(Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]))).toEqual({ opened: 4, recovered: 2 });
  });

  it('a refused SMTP login is retried later with a reason, never with the password', async () => {
    const gw = await enrollTestGateway(t, g, { hostname: 'us-wrongpass' });
    await seedGatewayStatus(t.database.db, gw.gatewayId, { status: 'offline' });
    await syncAlerts({ ctx: sys, input: { quietSeconds: 3600 } });
    const mailer = createSmtpMailer(`smtp://ferry:wrong-pass-xyz@127.0.0.1:${smtp.port}`);
    try {
      const r = await deliverAlertNotifications({
        ctx: sys,
        input: { consoleUrl: 'https://ferry.example.org', allowPrivateAddresses: true },
        deps: { secrets: t.deps.secretBox, mailer },
      });
      expect(r.failed).toBe(1);
    } finally {
      mailer.close();
    }
    expect(smtp.mails).toHaveLength(0);
    const [row] = await t.database.db
      .select({ lastError: alertNotifications.lastError, deliveredAt: alertNotifications.deliveredAt })
      .from(alertNotifications)
      .innerJoin(notificationChannels, eq(notificationChannels.id, alertNotifications.channelId))
      .innerJoin(alerts, eq(alerts.id, alertNotifications.alertId))
      .where(sql`${alerts.gatewayId} = ${gw.gatewayId} and ${notificationChannels.kind} = 'email'`);
    expect(row?.deliveredAt).toBeNull();
    expect(row?.lastError).toMatch(/^SMTP: /);
    expect(logLines.join('\n')).not.toContain('wrong-pass-xyz');
  });
});
