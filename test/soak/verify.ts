// The soak's end checks, once the chaos is healed: the spool drains and keeps nothing beyond the
// retention policy, and the cloud holds every instance that got Success exactly once, byte-identical
// through WADO-RS, and none that only ever got a failure status.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '@ferry/shared';
import { sleep } from '../harness/agent.js';
import { type Cloud, storedVersions } from '../harness/cloud.js';
import { indexEntries, spoolDirs, spoolStatus } from '../harness/spool.js';
import type { InstanceTally } from './senders.js';

/** What the cloud holds against what the senders were answered; the summary reports these as they are. */
export interface CloudCounts {
  /** Succeeded instances found once, current, byte-identical. */
  delivered: number;
  /** Instances with more than one stored version (or not exactly one current one). */
  duplicates: number;
  /** Succeeded instances the cloud does not have: must be 0. */
  lost: number;
  /** Stored instances whose WADO-RS bytes differ from what was sent. */
  altered: number;
  /** Instances that only ever got a failure status, yet are stored. */
  storedDespiteFailure: number;
  /** Instances that never got an answer (broken association) but were stored, correctly: allowed. */
  storedUnanswered: number;
}

export interface CloudCheck extends CloudCounts {
  /** Seconds from the agent's receipt (its Success) to stored in the cloud, per delivered instance. */
  latenciesSeconds: number[];
  violations: string[];
}

/** Waits until nothing is waiting in the spool (nothing spooled, uploading or quarantined). */
export async function waitForDrain(
  cloud: Cloud,
  timeoutMs: number,
): Promise<{ drained: boolean; seconds: number; last: string }> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const s = await spoolStatus(cloud.agentDataDir).catch((err: unknown) => {
      last = String(err);
      return undefined;
    });
    if (s) last = JSON.stringify(s.byState);
    if (s && s.count === 0) return { drained: true, seconds: (Date.now() - started) / 1000, last };
    if (Date.now() - started > timeoutMs) return { drained: false, seconds: timeoutMs / 1000, last };
    await sleep(1000);
  }
}

/**
 * What the spool keeps beyond the retention policy: no partial receptions in tmp/, every entry
 * delivered, and no local copy (objects/<id>.fobj) of an entry delivered longer ago than the
 * retention. The retention sweep runs right after a receipt, so a short wait is allowed.
 */
export async function spoolLeftovers(cloud: Cloud, waitMs = 30_000): Promise<string[]> {
  const cfg = await cloud.agentConfig();
  const upload = (cfg.upload ?? {}) as { retentionHours?: number };
  const retentionMs = (upload.retentionHours ?? 0) * 3_600_000;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const problems: string[] = [];
    const entries = await indexEntries(cloud.agentDataDir);
    const byId = new Map(entries.map((e) => [e.id, e]));
    const { tmp, objects } = await spoolDirs(cloud.agentDataDir);
    for (const t of tmp) problems.push(`tmp/${t} left behind`);
    for (const e of entries)
      if (e.state !== 'delivered') problems.push(`entry ${e.id} is ${e.state}, not delivered`);
    for (const name of objects) {
      const e = byId.get(name.replace(/\.fobj$/, ''));
      if (!e) problems.push(`objects/${name} belongs to no index entry`);
      else if (e.state === 'delivered' && Date.now() - Date.parse(e.deliveredAt ?? '') >= retentionMs)
        problems.push(
          `objects/${name} kept past the retention (${retentionMs / 3_600_000} h) after delivery`,
        );
    }
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await sleep(1000);
  }
}

/** Checks every instance the soak sent against the cloud (WADO-RS for the bytes). */
export async function checkCloud(
  cloud: Cloud,
  instances: Map<string, InstanceTally>,
  workDir: string,
): Promise<CloudCheck> {
  const out: CloudCheck = {
    delivered: 0,
    duplicates: 0,
    lost: 0,
    altered: 0,
    storedDespiteFailure: 0,
    storedUnanswered: 0,
    latenciesSeconds: [],
    violations: [],
  };
  const byStudy = new Map<string, InstanceTally[]>();
  for (const t of instances.values()) {
    const k = t.expected.studyInstanceUid;
    byStudy.set(k, [...(byStudy.get(k) ?? []), t]);
  }
  const dir = join(workDir, 'wado');
  await mkdir(dir, { recursive: true });
  const report = (msg: string) => {
    if (out.violations.length < 50) out.violations.push(msg);
    else if (out.violations.length === 50) out.violations.push('… more violations left out');
  };

  for (const [studyUid, list] of byStudy) {
    const study = await cloud.study(studyUid);
    const stored = new Map<string, ReturnType<typeof storedVersions>>();
    for (const v of study ? storedVersions(study) : [])
      stored.set(v.sopInstanceUid, [...(stored.get(v.sopInstanceUid) ?? []), v]);
    const sent = new Set(list.map((t) => t.expected.sopInstanceUid));
    for (const sop of stored.keys())
      if (!sent.has(sop)) report(`study ${studyUid} holds ${sop}, which the soak never sent`);

    await mapLimit(list, 4, async (t) => {
      const e = t.expected;
      const versions = stored.get(e.sopInstanceUid) ?? [];
      const succeeded = t.successes > 0;
      const what = `${e.kind} ${e.sopInstanceUid}`;
      if (versions.length === 0) {
        if (succeeded) {
          out.lost++;
          report(`lost: ${what} got Success ${t.successes}× but is not in the cloud`);
        }
        return;
      }
      if (!succeeded && t.failureStatuses.length > 0) {
        out.storedDespiteFailure++;
        report(
          `${what} only ever got failure statuses (${[...new Set(t.failureStatuses)].join(', ')}) but is stored`,
        );
      }
      const current = versions.filter((v) => v.current);
      if (versions.length !== 1 || current.length !== 1) {
        out.duplicates++;
        report(`duplicate: ${what} has ${versions.length} versions, ${current.length} current`);
      }
      const version = current[0] ?? versions[0];
      if (!version) return;
      const got = await cloud.wadoDataset(studyUid, e.seriesInstanceUid, e.sopInstanceUid, dir);
      await rm(got.file, { force: true });
      if (got.sha256 !== e.datasetSha256 || got.bytes !== e.datasetBytes) {
        out.altered++;
        report(
          `altered: ${what}: WADO-RS gave ${got.bytes} bytes ${got.sha256.slice(0, 12)}…, sent ${e.datasetBytes} ${e.datasetSha256.slice(0, 12)}…`,
        );
        return;
      }
      if (!succeeded) {
        out.storedUnanswered++;
        return;
      }
      if (versions.length === 1 && current.length === 1) {
        out.delivered++;
        out.latenciesSeconds.push(
          Math.max(0, (Date.parse(version.storedAt) - Date.parse(version.receivedAt)) / 1000),
        );
      }
    });
  }
  await rm(dir, { recursive: true, force: true });
  return out;
}
