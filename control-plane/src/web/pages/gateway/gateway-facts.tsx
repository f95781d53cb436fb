import type { HealthReport } from '@ferry/shared';
import { formatBytes } from '../../components/fleet-format.js';
import { Moment } from '../../components/moment.js';

/** A time to the second (also an ISO string from a heartbeat), or `empty` when there is none. */
export function When({ at, empty = 'never' }: { at: Date | string | null | undefined; empty?: string }) {
  if (!at) return <span class="muted">{empty}</span>;
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) return <span>{String(at)}</span>;
  return <Moment at={d} />;
}

/** A config or detail value as text. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** The numbers of the latest heartbeat, as facts under the status. */
export function HealthFacts({ h }: { h: HealthReport }) {
  const plural = (n: number, one: string) => `${n} ${n === 1 ? one : `${one}s`}`;
  return (
    <>
      <dt>Spool backlog</dt>
      <dd data-health="backlog">
        {plural(h.spool.pendingCount, 'object')} / {formatBytes(h.spool.pendingBytes)} in{' '}
        {h.spool.pendingStudies} {h.spool.pendingStudies === 1 ? 'study' : 'studies'}
        {h.spool.quarantined > 0 ? `, ${h.spool.quarantined} quarantined` : ''}
      </dd>
      <dt>Oldest unsent</dt>
      <dd>
        <When at={h.spool.oldestUnsentAt} empty="none" />
      </dd>
      <dt>Upload</dt>
      <dd data-health="upload">
        {formatBytes(h.upload.bytesPerSecond)}/s, {plural(h.upload.objectsDelivered, 'object')} delivered,{' '}
        {plural(h.upload.errors, 'error')}
        {h.upload.lastError ? (
          <>
            {' '}
            (last <code>{h.upload.lastError.code}</code> at <When at={h.upload.lastError.at} />)
          </>
        ) : null}
      </dd>
      <dt>DICOM listener</dt>
      <dd data-health="dicom">
        {h.dicom.listening ? 'listening as ' : 'not listening; configured as '}
        <code>{h.dicom.aeTitle}</code> on port {h.dicom.port},{' '}
        {plural(h.dicom.activeAssociations, 'active association')}
      </dd>
      <dt>Disk</dt>
      <dd data-health="disk">
        {formatBytes(h.disk.freeBytes)} free of {formatBytes(h.disk.totalBytes)}
      </dd>
      <dt>Clock offset</dt>
      <dd>
        {h.clockOffsetMs === null ? (
          <span class="muted">not measured</span>
        ) : (
          `${Math.round(h.clockOffsetMs)} ms`
        )}
      </dd>
    </>
  );
}

/** Which key the gateway seals new objects for, flagged when it is not the control plane's current one. */
export function RecipientKeyFacts({
  reported,
  current,
}: {
  reported: string | undefined;
  current: string | undefined;
}) {
  const stale = reported !== undefined && current !== undefined && reported !== current;
  return (
    <>
      <dt>Encryption key</dt>
      <dd id="gw-recipient-key" data-current={stale ? 'false' : reported && current ? 'true' : undefined}>
        {reported ? <code>{reported}</code> : <span class="muted">not reported</span>}
        {stale ? (
          <strong>
            {' '}
            not the control plane's current key (<code>{current}</code>): the gateway is sent it while
            connected
          </strong>
        ) : null}
      </dd>
    </>
  );
}
