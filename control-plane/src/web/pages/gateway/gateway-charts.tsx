import type { GatewaySeries, SeriesPoint, SeriesRange } from '../../../services/get-gateway-series.js';
import { SERIES_RANGES } from '../../../services/get-gateway-series.js';
import { formatBytes, formatDuration } from '../../components/fleet-format.js';

/** The charts of a gateway page: one figure per measure, each with its numbers as text beside it. */
interface Measure {
  key: string;
  title: string;
  unit: string;
  value: (p: SeriesPoint) => number | null;
  text: (v: number) => string;
}

const rate = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)}/min`;

const MEASURES: Measure[] = [
  {
    key: 'received',
    title: 'Received per minute',
    unit: 'instances/min',
    value: (p) => p.receivedPerMinute,
    text: rate,
  },
  {
    key: 'delivered',
    title: 'Delivered per minute',
    unit: 'objects/min',
    value: (p) => p.deliveredPerMinute,
    text: rate,
  },
  {
    key: 'backlog',
    title: 'Spool backlog',
    unit: 'objects',
    value: (p) => p.backlogCount,
    text: (v) => `${v}`,
  },
  {
    key: 'oldest',
    title: 'Oldest unsent',
    unit: 'seconds',
    value: (p) => p.oldestUnsentSeconds,
    text: (v) => formatDuration(v),
  },
  {
    key: 'latency',
    title: 'Delivery latency',
    unit: 'seconds',
    value: (p) => (p.latencyMs === null ? null : p.latencyMs / 1000),
    text: (v) => formatDuration(v),
  },
];

const RANGE_LABEL: Record<SeriesRange, string> = { '1h': '1 hour', '24h': '24 hours', '7d': '7 days' };

function time(d: Date, range: SeriesRange): string {
  const iso = d.toISOString();
  return range === '7d' ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
}

function summary(m: Measure, points: SeriesPoint[]): string {
  const values = points.map(m.value).filter((v): v is number => v !== null);
  if (values.length === 0) return 'No data in this range.';
  const last = values.at(-1) ?? 0;
  return `Latest ${m.text(last)}, lowest ${m.text(Math.min(...values))}, highest ${m.text(Math.max(...values))}.`;
}

export function GatewayCharts({ gatewayId, series }: { gatewayId: string; series: GatewaySeries }) {
  const { points, range } = series;
  const at = points.map((p) => Math.round(p.at.getTime() / 1000));
  // The x axis spans the whole range asked for: uPlot's own fit of one or two points spans years.
  const span = [Math.floor(series.from.getTime() / 1000), Math.ceil(series.to.getTime() / 1000)];
  return (
    <section aria-labelledby="gw-charts" class="gw-charts">
      <link rel="stylesheet" href="/assets/uplot.css" />
      <link rel="stylesheet" href="/assets/gateway-charts.css" />
      <script src="/assets/uplot.js" defer></script>
      <script src="/assets/gateway-charts.js" defer></script>
      <h2 id="gw-charts">Activity over {RANGE_LABEL[range]}</h2>
      <nav aria-label="Chart range">
        {SERIES_RANGES.map((r) => (
          <a
            href={`/gateways/${gatewayId}?range=${r}#gw-charts`}
            aria-current={r === range ? 'page' : undefined}
          >
            {RANGE_LABEL[r]}
          </a>
        ))}
      </nav>
      {MEASURES.map((m) => (
        <figure class="chart" aria-labelledby={`chart-${m.key}`}>
          <figcaption id={`chart-${m.key}`}>
            <strong>{m.title}</strong> <span data-summary={m.key}>{summary(m, points)}</span>
          </figcaption>
          <div
            class="chart-plot"
            aria-hidden="true"
            data-chart={JSON.stringify({ label: m.title, unit: m.unit, span, x: at, y: points.map(m.value) })}
          ></div>
          <details>
            <summary>{m.title} as a table</summary>
            <table>
              <thead>
                <tr>
                  <th scope="col">Time (UTC)</th>
                  <th scope="col">{m.title}</th>
                </tr>
              </thead>
              <tbody>
                {points.map((p) => {
                  const v = m.value(p);
                  return (
                    <tr>
                      <td>
                        <time datetime={p.at.toISOString()}>{time(p.at, range)}</time>
                      </td>
                      <td>{v === null ? '—' : m.text(v)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </details>
        </figure>
      ))}
      <p class="muted">
        Backlog in bytes at the end of the range: {formatBytes(points.at(-1)?.backlogBytes ?? 0)}.
      </p>
    </section>
  );
}
