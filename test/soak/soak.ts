// The soak: several storescu senders (different calling AEs, mixed corpora, a big multi-frame) into a
// real agent for a given time, on a real control plane with S3 (radosgw) and PostgreSQL, while the
// agent is killed with SIGKILL and restarted, the control plane is restarted and the S3 link is made
// slow and then erroring. Then everything is healed, the spool must drain, and the end checks run
// (see verify.ts and resources.ts). No vitest here: `npm run soak` (cli.ts) and the short test in
// `npm test` both call runSoak and read its result.
//
// "Exactly once" is per SOP Instance UID: one stored version, current, with the bytes that were
// sent. Identical resends are allowed and expected (the agent and the cloud deduplicate them); the
// soak never sends different bytes under one SOP Instance UID.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeScratch, scratch } from '../harness/agent.js';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { bigInstance, corpusFiles, ctCorpus, repoRoot, smallCorpus, workDir } from '../harness/corpus.js';
import { requireTool } from '../harness/dcmtk.js';
import { seededRandom } from '../harness/seeded-random.js';
import { healAll, planChaos, runChaos } from './chaos.js';
import { SOAK_DEFAULTS, type SoakOptions } from './options.js';
import { quantile, type SoakResult, summaryMarkdown, writeSoakResult } from './report.js';
import { AgentWatch, resourceViolations } from './resources.js';
import { FreshBudget, loopSender, type SendersContext, sliceSender, Tally } from './senders.js';
import { checkCloud, spoolLeftovers, waitForDrain } from './verify.js';
import { bigBatch, sampleBatches, sliceSources } from './workload.js';

export type { SoakOptions } from './options.js';
export type { SoakResult } from './report.js';

/** Per slice sender and generation: 4 CT slices (~2 MB) and 20 small MR instances. */
const CT_PER_SENDER = 4;
const MR_PER_SENDER = 20;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const wallStart = Date.now();
  const o = { ...SOAK_DEFAULTS, ...opts };
  const log = opts.log ?? ((line: string) => console.log(line));
  for (const tool of ['storescu', 'storescp', 'dcmdump']) requireTool(tool);
  const random = seededRandom(o.seed);
  const work = await scratch('soak');
  let cloud: Cloud | undefined;
  try {
    log(`soak: preparing the workload (big instance ${(o.bigBytes / 2 ** 20).toFixed(0)} MiB)`);
    const [ctDir, mrDir, bigFile] = await Promise.all([ctCorpus(), smallCorpus(), bigInstance(o.bigBytes)]);
    const [ctFiles, mrFiles] = await Promise.all([corpusFiles(ctDir), corpusFiles(mrDir)]);
    const senders = await Promise.all(
      Array.from({ length: o.sliceSenders }, async (_, i) => {
        const ct = ctFiles.slice(i * CT_PER_SENDER, (i + 1) * CT_PER_SENDER);
        const mr = mrFiles.slice(i * MR_PER_SENDER, (i + 1) * MR_PER_SENDER);
        let estimate = 0;
        for (const f of [...ct, ...mr]) estimate += (await stat(f)).size;
        return {
          callingAe: `SOAK_SLICES${i + 1}`,
          sources: [...(await sliceSources(ct, 'ct')), ...(await sliceSources(mr, 'mr'))],
          estimate,
        };
      }),
    );
    const [samples, big] = await Promise.all([sampleBatches(work), bigBatch(bigFile)]);

    log('soak: starting the cloud (PostgreSQL, S3 behind a fault proxy) and an enrolled agent');
    cloud = await startCloud({
      name: 'soak',
      blobs: 's3',
      database: 'postgres',
      tcpProxyControlPlane: true,
      tcpProxyS3: true,
      stablePeriodSeconds: 2,
      agentConfig: { upload: { compression: opts.compression ?? 'auto' } },
    });
    const c = cloud;
    const watch = new AgentWatch(c.agent);
    watch.idleAtStart = await watch.idle();
    watch.start();

    const start = Date.now();
    const tally = new Tally();
    const ctx: SendersContext = { cloud: c, tally, until: start + o.durationMs, random, log };
    const plan = planChaos(o.durationMs, random);
    log(
      `soak: sending for ${(o.durationMs / 1000).toFixed(0)} s with ${o.sliceSenders + 2} senders ` +
        `(upload.compression ${opts.compression ?? 'auto'}); chaos at ` +
        `kill -9 ${fmtTimes(plan.agentKills)}, control plane ${fmtTimes(plan.controlPlaneRestarts)}, S3 ${fmtTimes(plan.s3Episodes)}`,
    );
    const budget = new FreshBudget(o.freshBytes, start, o.durationMs);
    const progress = setInterval(() => {
      log(
        `  [${((Date.now() - start) / 1000).toFixed(0)}s] sent ${tally.sent}, succeeded ${tally.succeeded}, fresh ${(budget.used / 2 ** 20).toFixed(0)} MiB`,
      );
    }, 15_000);
    const [chaos] = await Promise.all([
      runChaos(c, plan, { start, random, watch, log }),
      ...senders.map((s) => sliceSender(ctx, { ...s, dir: join(work, 'generations'), budget })),
      loopSender(ctx, { callingAe: 'SOAK_SAMPLES', batches: samples, pauseMs: 1000 }),
      loopSender(ctx, { callingAe: 'SOAK_BIG', batches: [big], pauseMs: Math.min(30_000, o.durationMs / 6) }),
    ]).finally(() => clearInterval(progress));
    const sendingSeconds = (Date.now() - start) / 1000;

    log(`soak: sent for ${sendingSeconds.toFixed(0)} s; healing and waiting for the spool to drain`);
    await healAll(c, watch);
    const drain = await waitForDrain(c, o.drainTimeoutMs);
    const leftovers = drain.drained ? await spoolLeftovers(c) : [`spool did not drain: ${drain.last}`];
    watch.stop();
    // Idle RSS after a busy hour is not compared (V8 keeps its heap); descriptors are, once pooled
    // keep-alive connections have timed out.
    watch.idleAtEnd = await watch.idle(20_000, (watch.idleAtStart?.fds ?? 0) + 4);
    log(
      `soak: drained in ${drain.seconds.toFixed(1)} s; checking ${tally.instances.size} instances through WADO-RS`,
    );
    const check = await checkCloud(c, tally.instances, work);
    const resources = watch.report();

    const violations = [...check.violations, ...leftovers, ...resourceViolations(resources)];
    if (chaos.agentKills < 1) violations.push('the agent was never killed');
    if (chaos.controlPlaneRestarts < 1) violations.push('the control plane was never restarted');
    if (chaos.s3Slow < 1 || chaos.s3Errors < 1)
      violations.push('the S3 link was never made slow and erroring');
    const succeededInstances = [...tally.instances.values()].filter((t) => t.successes > 0).length;
    if (succeededInstances === 0) violations.push('no instance got Success');

    const result: SoakResult = {
      at: new Date(wallStart).toISOString(),
      seed: o.seed,
      durationSeconds: Math.round(o.durationMs / 1000),
      bigBytes: o.bigBytes,
      senders: Object.fromEntries(tally.bySender),
      associations: tally.associations,
      summary: {
        sent: tally.sent,
        succeeded: tally.succeeded,
        failed: Object.fromEntries(tally.failed),
        succeededInstances,
        delivered: check.delivered,
        duplicates: check.duplicates,
        lost: check.lost,
        altered: check.altered,
        storedDespiteFailure: check.storedDespiteFailure,
        storedUnanswered: check.storedUnanswered,
        deliveryLatencyP50Seconds: quantile(check.latenciesSeconds, 0.5),
        deliveryLatencyP99Seconds: quantile(check.latenciesSeconds, 0.99),
      },
      chaos,
      resources,
      drain: { drained: drain.drained, seconds: drain.seconds },
      spoolLeftovers: leftovers,
      violations,
      wallSeconds: (Date.now() - wallStart) / 1000,
    };
    result.logs = await keepLogs(c, watch, result.at);
    result.files = await writeSoakResult(opts.resultsDir ?? join(repoRoot, 'bench', 'results'), result);
    log(summaryMarkdown(result));
    return result;
  } finally {
    await cloud?.close();
    await removeScratch(cloud?.root);
    await removeScratch(work);
  }
}

/** The agent's and the control plane's logs, under test/.work/soak-logs/<timestamp>/ (gitignored). */
async function keepLogs(cloud: Cloud, watch: AgentWatch, at: string): Promise<string> {
  const dir = join(workDir, 'soak-logs', at.replace(/[:.]/g, '-'));
  await mkdir(dir, { recursive: true });
  for (const [i, p] of watch.processes.entries())
    await writeFile(join(dir, `agent-${i + 1}-${p.pid}.log`), p.output());
  await writeFile(join(dir, 'control-plane-last.log'), cloud.cp.output());
  return dir;
}

function fmtTimes(ms: number[]): string {
  return ms.map((t) => `${(t / 1000).toFixed(0)}s`).join('/');
}
