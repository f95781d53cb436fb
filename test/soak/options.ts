// What a soak run is told, with the defaults `npm run soak` uses, and the parsing of its CLI flags.

const MiB = 1024 * 1024;

/** The big multi-frame the CLI sends by default: the same 1 GiB + 1 MiB file upload-corpus caches. */
export const DEFAULT_BIG_BYTES = 1024 * MiB + MiB;

export interface SoakOptions {
  /** How long the senders keep sending (setup, drain and verification come on top). */
  durationMs: number;
  /** Seeds the chaos moments and the senders' choices; the same seed gives the same plan. */
  seed?: number;
  /** Pixel bytes of the multi-frame instance one sender keeps sending. */
  bigBytes?: number;
  /** Concurrent senders of CT and MR slices (each its own calling AE); the samples and big senders come on top. */
  sliceSenders?: number;
  /**
   * Bytes of fresh instances (new UIDs) to create over the run. The test S3 server keeps objects in
   * a 4 GiB memory store shared with other tests, so fresh content is paced over the run and capped;
   * once the cap is reached, senders resend earlier generations (identical resends).
   */
  freshBytes?: number;
  /** How long to wait for the agent's spool to drain once the chaos is healed. */
  drainTimeoutMs?: number;
  /** The agent's `upload.compression` (default auto, as gateways run; `image` puts every slice through the codec). */
  compression?: string;
  /** Where the summary is written (default bench/results/; the short test writes to its scratch dir). */
  resultsDir?: string;
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

export const SOAK_DEFAULTS = {
  seed: 1,
  bigBytes: DEFAULT_BIG_BYTES,
  sliceSenders: 3,
  freshBytes: 512 * MiB,
  drainTimeoutMs: 15 * 60_000,
} as const;

/** `90s`, `30m`, `1h`, `1h30m` or plain seconds, in milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  let rest = t;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m?.[1] || !m[2]) throw new Error(`bad duration '${text}': use e.g. 90s, 30m, 1h`);
    ms += Number(m[1]) * (units[m[2]] ?? 0);
    rest = rest.slice(m[0].length);
  }
  if (ms <= 0) throw new Error(`bad duration '${text}': must be more than zero`);
  return Math.round(ms);
}

/** `64MiB`, `1GiB`, `512M`, `1G` or plain bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|ki|kib|m|mi|mib|g|gi|gib|b)?$/i.exec(text.trim());
  if (!m?.[1]) throw new Error(`bad size '${text}': use e.g. 64MiB, 1GiB`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const factor = unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? 1024 * MiB : 1;
  return Math.round(Number(m[1]) * factor);
}
