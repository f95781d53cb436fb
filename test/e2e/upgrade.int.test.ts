// Upgrading a gateway from the control plane, across real processes: the agent runs from a release
// bundle under its supervisor (`ferry-agent run`, as the systemd unit starts it); the control plane
// serves and signs a second release that differs in version; an admin's upgrade makes the agent
// download it, check hash and signature, install it beside the running one and restart into it, and the
// control plane then sees the new version. A deliberately broken release (it crashes at start) is rolled
// back by the supervisor on its own. The spool's entries survive both untouched, and the upgraded agent
// keeps receiving and uploading.
//
// One bundle is built (npm's bundle script, cached by a hash of the agent's sources); the other two
// releases are derived from it by patching the version stamp, the VERSION file and the directory name.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IndexEntry } from '../../agent/src/spool/index-entry.js';
import { eventsEventually, waitFor } from '../harness/agent.js';
import { axeCheck, launchBrowser, newPage, signIn } from '../harness/browser.js';
import { CLOUD_ADMIN, type Cloud, type GatewayView, startCloud } from '../harness/cloud.js';
import { corpusFiles, repoRoot, smallCorpus } from '../harness/corpus.js';
import { storescu } from '../harness/dcmtk.js';
import { type ServiceProcess, spawnService } from '../harness/service-process.js';
import { statusWithEntries } from '../harness/spool.js';

const run = promisify(execFile);
const UPGRADED = '0.1.1-upgrade.1';
const BROKEN = '0.1.2-broken.1';

/** A hash of everything the bundle is made from: a changed source builds a new one. */
async function sourceKey(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!e.name.includes('.test.')) hash.update(p).update(await readFile(p));
    }
  };
  for (const d of ['agent/src', 'shared/src']) await walk(join(repoRoot, d));
  hash.update(await readFile(join(repoRoot, 'agent/scripts/bundle.mjs')));
  hash.update(await readFile(join(repoRoot, 'agent/package.json')));
  return hash.digest('hex').slice(0, 16);
}

interface Releases {
  /** The installed program (the bundle as built). */
  installed: string;
  installedVersion: string;
  upgraded: string;
  broken: string;
}

/**
 * The three releases, from one bundle build cached in the OS temp dir. Directories are copied with
 * hard links (node is 100 MB); the patched files are written as new files, never through a link.
 */
async function releases(): Promise<Releases> {
  const cache = join(tmpdir(), 'ferry-upgrade-releases', await sourceKey());
  const done = join(cache, 'done');
  const built = join(cache, 'build');
  if (!existsSync(done)) {
    // One build is kept: the Node binary makes each a few hundred MB.
    await rm(join(cache, '..'), { recursive: true, force: true });
    await run(process.execPath, [join(repoRoot, 'agent/scripts/bundle.mjs'), '--out', built, '--no-tar']);
    const [dir] = await readdir(built);
    const installedVersion = /^ferry-agent-(.+)-linux-x64$/.exec(dir ?? '')?.[1];
    if (!dir || !installedVersion) throw new Error(`unexpected bundle output: ${dir}`);
    const src = join(built, dir);
    const derive = async (version: string, patch: (mjs: string) => string) => {
      const name = `ferry-agent-${version}-linux-x64`;
      const stage = join(cache, `stage-${version}`);
      await cp(src, join(stage, name), { recursive: true, preserveTimestamps: true });
      const mjsPath = join(stage, name, 'ferry-agent.mjs');
      const stamp = `{ version: ${JSON.stringify(installedVersion)}, commit:`;
      const mjs = await readFile(mjsPath, 'utf8');
      if (!mjs.includes(stamp)) throw new Error('the bundle has no version stamp to patch');
      await rm(mjsPath);
      await writeFile(mjsPath, patch(mjs.replace(stamp, `{ version: ${JSON.stringify(version)}, commit:`)));
      const versionFile = join(stage, name, 'VERSION');
      const text = await readFile(versionFile, 'utf8');
      await rm(versionFile);
      await writeFile(versionFile, text.replace(/^version=.*$/m, `version=${version}`));
      // gzip -1: the release is mostly the Node binary; the test needs a valid tarball, not a small one.
      await run('tar', ['-C', stage, '-I', 'gzip -1', '-cf', join(cache, `${version}.tar.gz`), name]);
      await rm(stage, { recursive: true, force: true });
    };
    await derive(UPGRADED, (mjs) => mjs);
    // Crashes as soon as it runs: the supervisor must roll back without waiting out the trial.
    await derive(BROKEN, (mjs) =>
      mjs.replace(/\n/, "\nthrow new Error('deliberately broken release (upgrade test)');\n"),
    );
    await writeFile(join(cache, 'installed-version'), installedVersion);
    await writeFile(done, '');
  }
  const [dir] = await readdir(built);
  return {
    installed: join(built, dir ?? ''),
    installedVersion: (await readFile(join(cache, 'installed-version'), 'utf8')).trim(),
    upgraded: join(cache, `${UPGRADED}.tar.gz`),
    broken: join(cache, `${BROKEN}.tar.gz`),
  };
}

interface GatewayWithHealth extends GatewayView {
  health: { agentVersion: string } | null;
}

let rel: Releases;
let cloud: Cloud;
let gatewayId: string;
let served: string;
let supervisor: ServiceProcess<{ version: string }>;

/** The supervisor's and its children's log lines. */
function lines(): Record<string, unknown>[] {
  return supervisor
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
const agentView = {
  logLines: lines,
} as Parameters<typeof eventsEventually>[0];

async function releaseState(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(cloud.agentDataDir, 'releases', 'state.json'), 'utf8'));
}

beforeAll(async () => {
  const started = Date.now();
  rel = await releases();
  process.stdout.write(`upgrade: releases ready in ${Date.now() - started} ms\n`);
  // The control plane serves the upgraded release; the file is swapped for the broken one later.
  const root = await mkdtemp(join(tmpdir(), 'ferry-upgrade-'));
  served = join(root, 'ferry-agent-linux-x64.tar.gz');
  await cp(rel.upgraded, served);
  cloud = await startCloud({
    name: 'upgrade',
    env: { FERRY_AGENT_RELEASE: served, FERRY_HEARTBEAT_SECONDS: '1' },
  });
  gatewayId = String((await cloud.agentConfig()).gatewayId);
  // Delivered objects stay in the spool for a day, so the spool's entries can be compared across upgrades.
  const put = await cloud.api('PUT', '/api/v1/settings/gateways', {
    allowedCallingAeTitles: ['STORESCU'],
    upload: { retentionHours: 24 },
  });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
  // The harness's agent enrolled the gateway; from here it runs from the installed release, supervised.
  await cloud.agent.stop();
  // As a gateway enrolled before releases were signed: it learns the key from its channel's welcome.
  await rm(signingKeyFile());
  supervisor = await spawnService({
    name: 'supervised agent',
    args: [join(rel.installed, 'ferry-agent.mjs'), 'run', '--data-dir', cloud.agentDataDir],
    env: { ...process.env, FERRY_LOG_LEVEL: 'info', FERRY_UPGRADE_TRIAL_SECONDS: '30' },
    readyEvent: 'agent.ready',
    timeoutMs: 30_000,
  });
  expect(supervisor.ready.version).toBe(rel.installedVersion);
  await eventsEventually(agentView, 'upgrade.signing_key_learned', 1, 30_000);
  expect(JSON.parse(await readFile(signingKeyFile(), 'utf8'))).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
}, 180_000);

function signingKeyFile(): string {
  return join(cloud.agentDataDir, 'identity', 'release-signing.public.jwk');
}

afterAll(async () => {
  await supervisor?.stop();
  await cloud?.close();
});

function waitForVersion(version: string, timeoutMs = 60_000): Promise<GatewayWithHealth> {
  return cloud.waitForGateway<GatewayWithHealth>(
    gatewayId,
    (g) => g.status === 'online' && g.health?.agentVersion === version,
    `the gateway reporting ${version}`,
    timeoutMs,
  );
}

describe('upgrading a gateway from the control plane', () => {
  let entriesBefore: ReturnType<typeof stable>[];

  it('an admin upgrades it from the console: it installs the signed release beside the running one, restarts into it and reports the new version', async () => {
    await waitForVersion(rel.installedVersion);
    const files = (await corpusFiles(await smallCorpus())).slice(0, 4);
    const sent = await storescu({
      port: cloud.agent.port,
      calledAe: cloud.aeTitle,
      files,
      timeoutMs: 60_000,
    });
    expect(sent.code, sent.stderr).toBe(0);
    const status = await statusWithEntries(cloud.agentDataDir);
    expect(status.entries.length).toBeGreaterThanOrEqual(files.length);
    entriesBefore = status.entries.map(stable);

    // An admin upgrades it from the console: the fleet says it is behind, the gateway page has the button.
    const browser = await launchBrowser();
    try {
      const { page } = await newPage(browser);
      await signIn(page, cloud.cp.url, CLOUD_ADMIN.email, CLOUD_ADMIN.password);
      await page.goto(`${cloud.cp.url}/fleet`);
      await expect
        .poll(() => page.locator('#fleet-rows').textContent())
        .toContain(`${rel.installedVersion} (behind ${UPGRADED})`);
      await axeCheck(page, 'fleet with a gateway behind');
      await page.goto(`${cloud.cp.url}/gateways/${gatewayId}`);
      await axeCheck(page, 'gateway page with an upgrade');
      await Promise.all([
        page.waitForURL(/notice=upgrade-sent/),
        page.getByRole('button', { name: `Upgrade to ${UPGRADED}` }).click(),
      ]);
      expect(await page.locator('body').textContent()).toContain('Upgrade sent');
      await waitForVersion(UPGRADED);
      await page.goto(`${cloud.cp.url}/gateways/${gatewayId}`);
      expect(await page.locator('[data-agent-version]').textContent()).toBe(UPGRADED);
      await axeCheck(page, 'gateway page after the upgrade');
    } finally {
      await browser.close();
    }
    const [audit] = (
      await cloud.api<{ entries: { action: string; targetId: string }[] }>(
        'GET',
        '/api/v1/audit?action=gateway.upgrade',
      )
    ).body.entries.filter((e) => e.action === 'gateway.upgrade' && e.targetId === gatewayId);
    expect(audit).toBeDefined();
    await eventsEventually(agentView, 'upgrade.confirmed', 1, 30_000);
    expect(await releaseState()).toEqual({ current: UPGRADED });
    const installedDir = join(cloud.agentDataDir, 'releases', UPGRADED);
    expect(existsSync(join(installedDir, 'ferry-agent.mjs'))).toBe(true);
    expect(await readFile(join(installedDir, 'VERSION'), 'utf8')).toContain(`version=${UPGRADED}`);
    // The running agent is the new release's, on the new release's own Node.
    const ready = lines().filter((l) => l.event === 'agent.ready');
    expect(ready.at(-1)?.version).toBe(UPGRADED);

    // Asked again, nothing is sent: it already runs the served version.
    const again = await cloud.api<{ upgradeId: string | null }>(
      'POST',
      `/api/v1/gateways/${gatewayId}/upgrade`,
    );
    expect(again.status).toBe(202);
    expect(again.body.upgradeId).toBeNull();
  }, 120_000);

  it('rolls back by itself when the new release crashes at start, and the spool is untouched', async () => {
    await rename(await copyBeside(rel.broken, served), served);
    const res = await cloud.api<{ toVersion: string }>('POST', `/api/v1/gateways/${gatewayId}/upgrade`);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.toVersion).toBe(BROKEN);
    const [rolledBack] = await eventsEventually(agentView, 'upgrade.rolled_back', 1, 60_000);
    expect(rolledBack).toMatchObject({ version: BROKEN, current: UPGRADED });
    expect(String(rolledBack?.reason)).toMatch(/exited \(code 1\) before it was healthy/);
    expect(supervisor.output()).toContain('deliberately broken release');
    const state = await releaseState();
    expect(state).toMatchObject({ current: UPGRADED, failed: { version: BROKEN } });
    expect(existsSync(join(cloud.agentDataDir, 'releases', BROKEN))).toBe(false);
    // The previous release runs again: a new channel, still reporting it.
    await waitFor(
      () => lines().filter((l) => l.event === 'agent.ready' && l.version === UPGRADED).length >= 2,
      30_000,
      'the upgraded release started again',
    );
    await waitForVersion(UPGRADED);

    // Every entry spooled before the upgrades is still there, byte for byte the same object.
    const after = await statusWithEntries(cloud.agentDataDir);
    const byId = new Map(after.entries.map((e) => [e.id, stable(e)]));
    for (const e of entriesBefore) expect(byId.get(e.id)).toEqual(e);

    // The upgraded agent keeps receiving and uploading.
    const more = (await corpusFiles(await smallCorpus())).slice(4, 6);
    const sent = await storescu({
      port: cloud.agent.port,
      calledAe: cloud.aeTitle,
      files: more,
      timeoutMs: 60_000,
    });
    expect(sent.code, sent.stderr).toBe(0);
    await waitFor(
      () => lines().filter((l) => l.event === 'dicom.store' && l.pid !== supervisor.child.pid).length > 0,
      10_000,
      'stores logged by the upgraded agent',
    );
    const delivered = async () =>
      (await statusWithEntries(cloud.agentDataDir)).entries.filter((e) => e.state === 'delivered').length;
    const until = Date.now() + 60_000;
    while ((await delivered()) < entriesBefore.length + more.length) {
      if (Date.now() > until)
        throw new Error(`not all delivered: ${JSON.stringify(await statusWithEntries(cloud.agentDataDir))}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 120_000);
});

/** An index entry without what delivery changes (state, receipt time, purge). */
function stable(e: IndexEntry): Omit<IndexEntry, 'state' | 'deliveredAt' | 'purged'> {
  const { state: _s, deliveredAt: _d, purged: _p, ...rest } = e;
  return rest;
}

/** A copy of `file` beside `target`, to be renamed over it (the control plane never reads half a file). */
async function copyBeside(file: string, target: string): Promise<string> {
  const tmp = `${target}.next`;
  await mkdir(join(target, '..'), { recursive: true });
  await cp(file, tmp);
  return tmp;
}
