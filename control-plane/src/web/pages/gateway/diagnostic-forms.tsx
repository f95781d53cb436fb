import {
  type DiagnosticRequest,
  type DicomPeer,
  diagnosticRequestSchema,
  dicomPeersSchema,
} from '@ferry/shared';
import { Csrf, fieldAria, Labelled } from '../../components/field.js';
import type { PageUser } from '../../page-context.js';

/** What the diagnostics forms hold when they are shown again with an error. */
export interface DiagnosticForms {
  echo?: { peer: string; callingAeTitle: string };
  lines?: string;
  /** Field errors by input id. */
  errors?: Record<string, string>;
  /** An error for the whole section (the gateway is offline). */
  error?: string;
}

/** The peers of the gateway's desired config: the only nodes a C-ECHO may go to. */
export function listedPeers(config: Record<string, unknown> | null): DicomPeer[] {
  const parsed = dicomPeersSchema.safeParse(config?.peers ?? []);
  return parsed.success ? parsed.data : [];
}

function peerLabel(p: DicomPeer): string {
  return `${p.name}: ${p.aeTitle} at ${p.host}:${p.port}${p.tls ? ' (TLS)' : ''}`;
}

/** C-ECHO to one of the listed peers; with none listed, why there is nothing to choose. */
export function EchoForm({
  user,
  action,
  peers,
  echo,
  errors,
  ownAeTitle,
}: {
  user: PageUser;
  action: string;
  peers: DicomPeer[];
  echo: { peer: string; callingAeTitle: string };
  errors: Record<string, string>;
  ownAeTitle: string;
}) {
  if (peers.length === 0)
    return (
      <section class="card" aria-labelledby="diag-echo">
        <h3 id="diag-echo">C-ECHO to a DICOM peer</h3>
        <p id="echo-no-peers">
          This gateway lists no DICOM peers. A gateway only dials the PACS and modalities in its gateway
          settings' <code>peers</code> list, which an admin sets through the API.
        </p>
      </section>
    );
  return (
    <form method="post" action={action} class="card" aria-labelledby="diag-echo">
      <h3 id="diag-echo">C-ECHO to a DICOM peer</h3>
      <Csrf user={user} />
      <Labelled id="echo-peer" label="Peer" error={errors['echo-peer']}>
        <select id="echo-peer" name="peer" required {...fieldAria('echo-peer', errors['echo-peer'])}>
          {peers.map((p) => (
            <option value={p.name} selected={p.name === echo.peer}>
              {peerLabel(p)}
            </option>
          ))}
        </select>
      </Labelled>
      <Labelled id="echo-calling" label="Calling AE title" error={errors['echo-calling']}>
        <input
          id="echo-calling"
          name="callingAeTitle"
          type="text"
          maxlength={16}
          placeholder={ownAeTitle}
          value={echo.callingAeTitle}
          {...fieldAria('echo-calling', errors['echo-calling'])}
        />
      </Labelled>
      <button type="submit">Run C-ECHO</button>
    </form>
  );
}

/** Field ids of the diagnostics forms by request field. */
const FIELD_IDS: Record<string, string> = {
  peer: 'echo-peer',
  callingAeTitle: 'echo-calling',
  lines: 'logs-lines',
};

const FIELD_HINTS: Record<string, string> = {
  'echo-peer': 'Choose one of the listed peers.',
  'logs-lines': 'Lines must be a whole number from 1 to 5000.',
};

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : '';
}

/** Parses a whole number field; an empty one is undefined, a bad one NaN (the schema then says why). */
function whole(v: string): number | undefined {
  if (v === '') return undefined;
  return /^\d+$/.test(v) ? Number(v) : Number.NaN;
}

type Parsed =
  | { ok: true; request: DiagnosticRequest }
  | { ok: false; forms: DiagnosticForms; errors: Record<string, string> };

export function parseDiagnostic(kind: string, form: Record<string, unknown>): Parsed {
  const echo = { peer: text(form.peer), callingAeTitle: text(form.callingAeTitle) };
  const lines = text(form.lines);
  const raw =
    kind === 'echo'
      ? {
          kind,
          ...(echo.peer ? { peer: echo.peer } : {}),
          ...(echo.callingAeTitle ? { callingAeTitle: echo.callingAeTitle } : {}),
        }
      : kind === 'logs'
        ? { kind, ...(lines ? { lines: whole(lines) } : {}) }
        : { kind: 'upload-test' };
  const parsed = diagnosticRequestSchema.safeParse(raw);
  if (parsed.success) return { ok: true, request: parsed.data };
  const errors: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    const id = FIELD_IDS[String(issue.path[0])];
    if (!id || errors[id]) continue;
    errors[id] = FIELD_HINTS[id] ?? `${issue.message}.`;
  }
  return { ok: false, forms: { echo, lines }, errors };
}
