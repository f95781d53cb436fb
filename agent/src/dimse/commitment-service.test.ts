import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DicomPeer } from '@ferry/shared';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstanceFate, InstanceFates } from '../spool/instance-fates.js';
import type { CommitmentResult } from './commitment-dataset.js';
import { type ReportChannel, StorageCommitment } from './commitment-service.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ref = (i: string) => ({ sopClassUid: CT, sopInstanceUid: i });
const silent = pino({ level: 'silent' });

/** The spool's side as the service sees it: fates set by the test, settlements announced. */
class Fates implements InstanceFates {
  readonly fates = new Map<string, InstanceFate>();
  private readonly listeners = new Set<(uid: string) => void>();
  fateOf(uid: string): InstanceFate {
    return this.fates.get(uid) ?? 'unknown';
  }
  onSettled(listener: (uid: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  settle(uid: string, fate: InstanceFate): void {
    this.fates.set(uid, fate);
    for (const l of this.listeners) l(uid);
  }
}

class Channel implements ReportChannel {
  readonly reports: CommitmentResult[] = [];
  open = true;
  isOpen(): boolean {
    return this.open;
  }
  async report(result: CommitmentResult): Promise<number> {
    this.reports.push(result);
    return 0;
  }
}

let dir: string;
let fates: Fates;
let services: StorageCommitment[];

async function service(
  maxWaitMinutes = 60,
  peers: DicomPeer[] = [],
  log: pino.Logger = silent,
): Promise<StorageCommitment> {
  const s = await StorageCommitment.open({
    dataDir: dir,
    fates,
    settings: () => ({ maxWaitMinutes, peers }),
    log,
    tickMs: 20,
  });
  await s.start();
  services.push(s);
  return s;
}

async function request(s: StorageCommitment, tx: string, uids: string[], channel: ReportChannel) {
  await s.accept(
    { transactionUid: tx, refs: uids.map(ref) },
    { callingAeTitle: 'MOD', calledAeTitle: 'GW' },
    channel,
  );
  s.answered(tx);
}

const until = async (check: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'commitment-'));
  fates = new Fates();
  services = [];
});
afterEach(async () => {
  for (const s of services) s.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('StorageCommitment', () => {
  it('reports only once every instance has a cloud receipt, then forgets the request', async () => {
    fates.fates.set('1.1', 'pending');
    fates.fates.set('1.2', 'delivered');
    const s = await service();
    const channel = new Channel();
    await request(s, '2.25.1', ['1.1', '1.2'], channel);
    await new Promise((r) => setTimeout(r, 100));
    expect(channel.reports).toEqual([]);
    expect(await readdir(join(dir, 'commitment'))).toEqual(['2.25.1.json']);
    fates.settle('1.1', 'delivered');
    await until(() => channel.reports.length === 1);
    expect(channel.reports[0]).toEqual({
      transactionUid: '2.25.1',
      committed: [ref('1.1'), ref('1.2')],
      failed: [],
    });
    await until(() => s.pendingCount === 0);
    expect(await readdir(join(dir, 'commitment'))).toEqual([]);
  });

  it('fails never-received (0x0112), quarantined (0x0110) and overdue (0x0110) instances', async () => {
    fates.fates.set('1.2', 'quarantined');
    fates.fates.set('1.3', 'pending');
    fates.fates.set('1.4', 'delivered');
    // 0.005 minutes: the wait is over after 300 ms.
    const s = await service(0.005);
    const channel = new Channel();
    await request(s, '2.25.2', ['1.1', '1.2', '1.3', '1.4'], channel);
    await new Promise((r) => setTimeout(r, 150));
    expect(channel.reports).toEqual([]);
    await until(() => channel.reports.length === 1);
    expect(channel.reports[0]).toEqual({
      transactionUid: '2.25.2',
      committed: [ref('1.4')],
      failed: [
        { ...ref('1.1'), reason: 0x0112 },
        { ...ref('1.2'), reason: 0x0110 },
        { ...ref('1.3'), reason: 0x0110 },
      ],
    });
  });

  it('keeps a request whose association closed on disk, and a restarted service decides and retries it', async () => {
    fates.fates.set('1.1', 'pending');
    const first = await service();
    const channel = new Channel();
    await request(first, '2.25.3', ['1.1'], channel);
    channel.open = false;
    first.stop();
    // A new run: the request is loaded; no peer has the AE title, so the report waits on disk.
    const second = await service();
    expect(second.pendingCount).toBe(1);
    fates.settle('1.1', 'delivered');
    await new Promise((r) => setTimeout(r, 200));
    expect(second.pendingCount).toBe(1);
    expect(await readdir(join(dir, 'commitment'))).toEqual(['2.25.3.json']);
    expect(channel.reports).toEqual([]);
  });

  it('retries an unreachable requester with growing waits, keeping the request on disk', async () => {
    // A port nothing listens on: take one, then close it.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as { port: number };
        srv.close(() => resolve(p));
      });
    });
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const peer = { name: 'Modality', aeTitle: 'MOD', host: '127.0.0.1', port, tls: false };
    fates.fates.set('1.1', 'delivered');
    const s = await service(60, [peer], log);
    const channel = new Channel();
    channel.open = false;
    await request(s, '2.25.4', ['1.1'], channel);
    const retries = () => lines.filter((l) => l.event === 'dicom.commitment_report_retry');
    await until(() => retries().length >= 1);
    expect(retries()[0]).toMatchObject({ transactionUid: '2.25.4', via: 'new-association', attempts: 1 });
    expect(Number(retries()[0]?.retryInMs)).toBeGreaterThanOrEqual(4000);
    expect(String(retries()[0]?.reason)).toMatch(/ECONNREFUSED/);
    // The next try waits for the backoff: no second attempt within a second.
    await new Promise((r) => setTimeout(r, 1000));
    expect(retries()).toHaveLength(1);
    expect(await readdir(join(dir, 'commitment'))).toEqual(['2.25.4.json']);
    expect(s.pendingCount).toBe(1);
    expect(s.undeliveredReports()).toMatchObject({ count: 1, callingAeTitles: ['MOD'] });
    expect(s.undeliveredReports().lastError).toMatch(/ECONNREFUSED/);
  });
});
