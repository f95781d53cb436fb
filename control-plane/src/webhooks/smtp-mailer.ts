import { FerryError } from '@ferry/shared';
import { createTransport } from 'nodemailer';

export interface AlertMail {
  to: string;
  subject: string;
  text: string;
}

/** Sends one plain-text alert mail; rejects with the SMTP server's reason. */
export interface AlertMailer {
  send(mail: AlertMail): Promise<void>;
  close(): void;
}

/** FERRY_SMTP_URL without its password, for logs and errors. */
export function redactSmtpUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'invalid-url';
  }
}

/**
 * A mailer over FERRY_SMTP_URL: `smtp://user:pass@host:port` (STARTTLS when the server offers it) or
 * `smtps://` (TLS from the first byte). `?from=` names the sender; else ferry@<host>. The password
 * stays inside the transport: nothing here logs the URL.
 */
export function createSmtpMailer(rawUrl: string, opts: { timeoutMs?: number } = {}): AlertMailer {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new FerryError('config.invalid', 'FERRY_SMTP_URL: must be a URL like smtp://user:pass@host:587');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new FerryError('config.invalid', 'FERRY_SMTP_URL: must start with smtp:// or smtps://');
  const secure = url.protocol === 'smtps:';
  const timeout = opts.timeoutMs ?? 15_000;
  const from = url.searchParams.get('from') ?? `ferry@${url.hostname}`;
  const transport = createTransport({
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close() {
      transport.close();
    },
  };
}
