import type { SeriesPoint } from '../../../services/list-fleet-sparklines.js';

const W = 120;
const H = 28;

/** Points of a polyline scaled to the box, each series to its own maximum (numbers only: no escaping needed). */
function polyline(values: number[], max: number): string {
  const step = values.length > 1 ? W / (values.length - 1) : 0;
  return values
    .map((v, i) => `${(i * step).toFixed(1)},${(H - 2 - (max > 0 ? (v / max) * (H - 4) : 0)).toFixed(1)}`)
    .join(' ');
}

const fmt = (v: number) => (v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1));

/** The sparkline's words: what a screen reader says and a pointer's tooltip shows. */
export function sparklineText(points: SeriesPoint[]): string {
  if (points.length === 0) return 'Last 24 hours: no heartbeats recorded.';
  const delivered = points.map((p) => p.deliveredPerMinute);
  const backlog = points.map((p) => p.backlogCount);
  return (
    `Last 24 hours: delivered ${fmt(Math.min(...delivered))} to ${fmt(Math.max(...delivered))} per minute ` +
    `(latest ${fmt(delivered.at(-1) ?? 0)}); backlog ${Math.min(...backlog)} to ${Math.max(...backlog)} objects ` +
    `(latest ${backlog.at(-1) ?? 0}).`
  );
}

/**
 * A 24-hour sparkline of throughput (delivered per minute, solid) and spool backlog (dashed), as
 * inline SVG markup: the fleet table is built as a string and kept live by fleet.client.js, which
 * leaves this cell as it is. Its numbers are in the text beside it (visually hidden) and its title.
 */
export function sparklineHtml(points: SeriesPoint[]): string {
  const text = sparklineText(points);
  if (points.length === 0) return `<span class="muted">${text}</span>`;
  const delivered = points.map((p) => p.deliveredPerMinute);
  const backlog = points.map((p) => p.backlogCount);
  return (
    `<svg class="sparkline" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" aria-hidden="true" focusable="false">` +
    `<title>${text}</title>` +
    `<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="${polyline(delivered, Math.max(...delivered))}"/>` +
    `<polyline fill="none" stroke="#b35900" stroke-width="1.5" stroke-dasharray="3 2" points="${polyline(backlog, Math.max(...backlog))}"/>` +
    `</svg><span class="visually-hidden">${text}</span>`
  );
}
