import type { CompressionReport, HealthReport } from '@ferry/shared';
import { formatBytes } from '../../components/fleet-format.js';
import { StackTable } from '../../components/stack-table.js';

/** Why the gateway codes new objects as it does, in words; a reason a newer agent names is shown as it is. */
const REASONS: Record<string, string> = {
  forced: 'set by the upload.compression setting',
  uplink_slower_than_codec: 'the uplink is slower than the image codec',
  slow_uplink: 'the backlog drains slowly, and the codec would hold a faster link back',
  fast_uplink: 'the uplink keeps up',
  large_backlog_unmeasured: 'a large backlog, and no uplink rate measured yet',
  small_backlog_unmeasured: 'a small backlog, and no uplink rate measured yet',
};

const CODINGS: Record<string, string> = {
  image: 'JPEG-LS pixels, zstd for the rest',
  zstd: 'zstd',
  none: 'uncompressed',
};

type Row = Omit<CompressionReport['byModality'][number], 'modality'>;

/** Received ÷ sent, as `3.2:1`; a dash before anything was sent. */
function ratio(r: Pick<Row, 'rawBytes' | 'sealedBytes'>): string {
  return r.sealedBytes > 0 ? `${(r.rawBytes / r.sealedBytes).toFixed(1)}:1` : '—';
}

const rate = (n: number | null) => (n === null ? null : `${formatBytes(n)}/s`);

function sum(rows: readonly Row[]): Row {
  const t: Row = {
    instances: 0,
    rawBytes: 0,
    sealedBytes: 0,
    jpeglsFrames: 0,
    fallbackFrames: 0,
    codecMs: 0,
  };
  for (const r of rows) for (const k of Object.keys(t) as (keyof Row)[]) t[k] += r[k];
  return t;
}

function Cells({ r }: { r: Row }) {
  return (
    <>
      <td data-label="Instances">{r.instances}</td>
      <td data-label="Received">{formatBytes(r.rawBytes)}</td>
      <td data-label="Sent">{formatBytes(r.sealedBytes)}</td>
      <td data-label="Ratio">{ratio(r)}</td>
      <td data-label="JPEG-LS bands">
        {r.jpeglsFrames}
        {r.fallbackFrames > 0 ? <span class="muted"> ({r.fallbackFrames} fell back to zstd)</span> : null}
      </td>
      <td data-label="Codec time">{(r.codecMs / 1000).toFixed(1)} s</td>
    </>
  );
}

/**
 * How the gateway codes what it uploads (issue 19): the coding new objects get and why, the rates its
 * `auto` mode goes by, and per modality the bytes received and sent since the gateway started. Shown
 * only while the gateway reports it (older agents do not).
 */
export function CodingReport({ health }: { health: HealthReport | null | undefined }) {
  const c = health?.compression;
  if (!c) return null;
  // The uploads' own estimate when the agent sends it; else the delivered rate (older agents).
  const link =
    rate(c.linkBytesPerSecond ?? null) ?? rate(c.drainBytesPerSecond) ?? rate(c.lastDrainBytesPerSecond);
  const busy = c.linkBytesPerSecond != null || c.drainBytesPerSecond !== null;
  const total = sum(c.byModality);
  return (
    <section aria-labelledby="gw-coding">
      <h2 id="gw-coding">Upload compression</h2>
      <dl class="facts">
        <dt>Mode</dt>
        <dd data-coding="mode">
          <code>{c.mode}</code>
        </dd>
        <dt>New objects</dt>
        <dd data-coding="choice">
          {CODINGS[c.coding] ?? c.coding}: {REASONS[c.reason] ?? c.reason}
        </dd>
        <dt>Uplink</dt>
        <dd data-coding="link">
          {link === null ? (
            <span class="muted">not measured yet</span>
          ) : !busy ? (
            `${link} when last busy`
          ) : (
            link
          )}
        </dd>
        <dt>Image codec, per worker</dt>
        <dd data-coding="codec">
          {rate(c.codecBytesPerSecond) ?? <span class="muted">not measured yet</span>}
        </dd>
        <dt>Since the gateway started</dt>
        <dd data-coding="total">
          {formatBytes(total.rawBytes)} received, {formatBytes(total.sealedBytes)} sent ({ratio(total)})
        </dd>
      </dl>
      {c.byModality.length === 0 ? (
        <p class="muted">No image received since the gateway started.</p>
      ) : (
        <StackTable
          label="Compression by modality"
          columns={['Modality', 'Instances', 'Received', 'Sent', 'Ratio', 'JPEG-LS bands', 'Codec time']}
          scrolls={false}
        >
          {c.byModality.map((m) => (
            <tr data-modality={m.modality}>
              <td data-label="Modality">
                {m.modality === '' ? <span class="muted">none</span> : m.modality}
              </td>
              <Cells r={m} />
            </tr>
          ))}
        </StackTable>
      )}
    </section>
  );
}
