import { type Logger, pino } from 'pino';

/**
 * Keys that carry patient data when a caller logs DICOM header fields (the spool header reader's
 * names and their DICOM keywords). The agent logs none of these today; the log bundle leaves the
 * gateway, so they are dropped here whatever a future log line carries.
 */
const PHI_KEYS = new Set(
  [
    'patient',
    'patientName',
    'patientId',
    'patientID',
    'patientBirthDate',
    'patientSex',
    'birthDate',
    'studyDescription',
    'seriesDescription',
    'accessionNumber',
    'referringPhysician',
    'referringPhysicianName',
    'institutionName',
    'PatientName',
    'PatientID',
    'PatientBirthDate',
    'AccessionNumber',
    'StudyDescription',
    'SeriesDescription',
  ].map((k) => k.toLowerCase()),
);

/** A copy of `value` without PHI keys, at any depth. */
export function stripPhi(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => stripPhi(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (PHI_KEYS.has(k.toLowerCase())) continue;
    out[k] = stripPhi(v, depth + 1);
  }
  return out;
}

/**
 * The most recent structured log lines, in memory, for the remote log bundle. A line is kept as the
 * text pino wrote and parsed, without PHI keys, only when the bundle asks for it: parsing and
 * stripping every line as it is logged cost more than writing it (one line per C-STORE), and what
 * leaves the gateway never holds those keys either way.
 */
export class LogRing {
  readonly #capacity: number;
  readonly #buf: (string | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.#capacity = capacity;
    this.#buf = new Array(capacity);
  }

  /** Accepts one pino line (JSON text); a line that is not a JSON object reads back as `{ msg }`. */
  write(line: string): void {
    this.#buf[this.#next] = line;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#size = Math.min(this.#size + 1, this.#capacity);
  }

  /** The latest `n` lines (default all held), oldest first, parsed and without PHI keys. */
  lines(n?: number): Record<string, unknown>[] {
    const count = Math.max(0, Math.min(n ?? this.#size, this.#size));
    const out: Record<string, unknown>[] = [];
    for (let i = count; i > 0; i--) {
      const line = this.#buf[(this.#next - i + this.#capacity) % this.#capacity];
      if (line !== undefined) out.push(parseLine(line));
    }
    return out;
  }
}

function parseLine(line: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { msg: line.trimEnd() };
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (stripPhi(parsed) as Record<string, unknown>)
    : { msg: String(parsed) };
}

export function createLogger(name: string, opts: { ring?: LogRing } = {}): Logger {
  const level = process.env.FERRY_LOG_LEVEL ?? 'info';
  const options = {
    name,
    level,
    base: { pid: process.pid },
    // Defence in depth: these keys must never reach a log line even if a caller passes them.
    redact: { paths: ['*.password', '*.token', '*.privateKey', '*.d', 'recipientPublicKey'], remove: true },
  };
  // Lines go out in batches from the thread pool, never one synchronous write each on the event
  // loop: at one line per C-STORE, each write woke the reader of stdout (journald, a pipe) and
  // blocked the agent while it was behind, a tenth of the agent's sampled time under the upload
  // bench. A batch goes once it holds 4 KiB, and at least every 100 ms; on exit pino writes what
  // is left synchronously, so only a kill -9 or a native crash can lose the last 100 ms.
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
  const ring = opts.ring;
  if (!ring) return pino(options, stdout);
  // The ring sees the same redacted lines as stdout, at the same level.
  return pino(
    options,
    pino.multistream(
      [
        { level, stream: stdout },
        { level, stream: { write: (line: string) => ring.write(line) } },
      ],
      {},
    ),
  );
}
