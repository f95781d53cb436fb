// The soak's summary table: printed, and written to bench/results/ as soak-<timestamp>.json and .md
// plus soak-latest.md and soak-latest.json (the other benches keep a <name>-latest.json there).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChaosCounts } from './chaos.js';
import type { IdleFigures, ResourceReport } from './resources.js';
import type { CloudCounts } from './verify.js';

export interface SoakSummary extends CloudCounts {
  sent: number;
  succeeded: number;
  /** Failed sends by status ('no response' when the association broke before an answer). */
  failed: Record<string, number>;
  /** Distinct instances (SOP Instance UIDs) that got Success at least once. */
  succeededInstances: number;
  deliveryLatencyP50Seconds: number;
  deliveryLatencyP99Seconds: number;
}

export interface SoakResult {
  at: string;
  seed: number;
  durationSeconds: number;
  bigBytes: number;
  senders: Record<string, { sent: number; succeeded: number }>;
  associations: number;
  summary: SoakSummary;
  chaos: ChaosCounts;
  resources: ResourceReport;
  drain: { drained: boolean; seconds: number };
  spoolLeftovers: string[];
  /** Everything that went wrong; empty for a clean run. */
  violations: string[];
  wallSeconds: number;
  /** Where the agent's and the control plane's logs of the run were kept. */
  logs?: string;
  files?: { json: string; md: string };
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN);
}

const MiB = 1024 * 1024;

export function summaryMarkdown(r: SoakResult): string {
  const s = r.summary;
  const failed = Object.entries(s.failed)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  const res = r.resources;
  const lines = [
    `# Soak ${r.at}`,
    '',
    `Sending for ${r.durationSeconds} s (seed ${r.seed}, big instance ${(r.bigBytes / MiB).toFixed(0)} MiB), ${r.associations} associations from ${Object.keys(r.senders).length} calling AEs; wall time ${r.wallSeconds.toFixed(0)} s.`,
    '',
    '| sent | succeeded | failed (status) | delivered | duplicates | lost (must be 0) | p50 delivery | p99 delivery |',
    '| ---: | ---: | :--- | ---: | ---: | ---: | ---: | ---: |',
    `| ${s.sent} | ${s.succeeded} (${s.succeededInstances} instances) | ${failed || '0'} | ${s.delivered} | ${s.duplicates} | ${s.lost} | ${s.deliveryLatencyP50Seconds.toFixed(2)} s | ${s.deliveryLatencyP99Seconds.toFixed(2)} s |`,
    '',
    `- Altered (WADO-RS bytes differ): ${s.altered}; stored despite only failure statuses: ${s.storedDespiteFailure}; stored though never answered (allowed): ${s.storedUnanswered}.`,
    `- Chaos: ${r.chaos.agentKills} agent kill -9, ${r.chaos.controlPlaneRestarts} control-plane restarts, ${r.chaos.s3Slow} slow-S3 and ${r.chaos.s3Errors} erroring-S3 episodes.`,
    `- Agent (${res.lifetimes} processes, ${res.samples} samples): RSS median ${(res.firstThird.rssBytes / MiB).toFixed(0)} → ${(res.lastThird.rssBytes / MiB).toFixed(0)} MiB (first → last third), peak ${(res.peakRssBytes / MiB).toFixed(0)} MiB; fds median ${res.firstThird.fds} → ${res.lastThird.fds}, peak ${res.peakFds}; idle before/after: ${fmtIdle(res.idleAtStart)} / ${fmtIdle(res.idleAtEnd)}.`,
    `- Spool drained in ${r.drain.seconds.toFixed(1)} s after healing${r.drain.drained ? '' : ' (NOT drained)'}; left beyond retention: ${r.spoolLeftovers.length === 0 ? 'nothing' : r.spoolLeftovers.join('; ')}.`,
    `- Per sender: ${Object.entries(r.senders)
      .map(([ae, v]) => `${ae} ${v.succeeded}/${v.sent}`)
      .join(', ')}.`,
    '',
    r.violations.length === 0 ? '**No violations.**' : `**Violations (${r.violations.length}):**`,
    ...r.violations.map((v) => `- ${v}`),
    '',
  ];
  return lines.join('\n');
}

function fmtIdle(x: IdleFigures | undefined): string {
  return x
    ? `${(x.rssBytes / MiB).toFixed(0)} MiB, ${x.fds} fds (${x.files} files, ${x.sockets} sockets)`
    : 'n/a';
}

/** Writes soak-<timestamp>.json/.md and soak-latest.md/.json into `dir`. */
export async function writeSoakResult(dir: string, r: SoakResult): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const stamp = r.at.replace(/[:.]/g, '-');
  const json = join(dir, `soak-${stamp}.json`);
  const md = join(dir, `soak-${stamp}.md`);
  const doc = `${JSON.stringify({ bench: 'soak', node: process.version, ...r }, null, 2)}\n`;
  const text = summaryMarkdown(r);
  await writeFile(json, doc);
  await writeFile(md, text);
  await writeFile(join(dir, 'soak-latest.md'), text);
  await writeFile(join(dir, 'soak-latest.json'), doc);
  return { json, md };
}
