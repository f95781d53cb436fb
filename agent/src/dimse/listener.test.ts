import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RawScu, verificationContext } from '../../../test/harness/raw-scu.js';
import { DicomListener } from './listener.js';
import type { AssociationPolicy } from './policy.js';
import { Status, type StoreHandler } from './store-handler.js';

/** Only C-ECHO is exercised here; a C-STORE would be refused. */
const noStore: StoreHandler = {
  begin: () => ({
    write: () => true,
    onDrain: (cb) => cb(),
    end: async () => ({ status: Status.CannotUnderstand }),
    abort: () => undefined,
  }),
};

const basePolicy: AssociationPolicy = {
  aeTitle: 'GATEWAY',
  allowedCallingAeTitles: [],
  maxAssociations: 4,
  maxPduLength: 65536,
  artimTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
};

let listener: DicomListener | undefined;
const sockets: RawScu[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.close(true);
  listener = undefined;
});

async function start(policy: AssociationPolicy = basePolicy): Promise<number> {
  listener = new DicomListener({ host: '127.0.0.1', port: 0, policy }, noStore, pino({ level: 'silent' }));
  return (await listener.listen()).port;
}

async function connect(port: number): Promise<RawScu> {
  const scu = await RawScu.connect(port);
  sockets.push(scu);
  return scu;
}

async function ask(port: number, callingAe: string) {
  return (await connect(port)).associate({ callingAe, contexts: [verificationContext()] });
}

const busy = { kind: 'rejected', result: 2, source: 3, reason: 2 };

describe('DicomListener admission', () => {
  it('lets one calling AE title hold only its share, so other callers still get in', async () => {
    const port = await start();
    // Connections that have not asked yet take no slot.
    for (let i = 0; i < 10; i++) await connect(port);
    expect((await ask(port, 'FLOOD')).kind).toBe('accepted');
    expect((await ask(port, 'FLOOD')).kind).toBe('accepted');
    expect(await ask(port, 'FLOOD')).toEqual(busy);
    expect((await ask(port, 'CT1')).kind).toBe('accepted');
    expect((await ask(port, 'MR1')).kind).toBe('accepted');
    expect(listener!.activeAssociations).toBe(4);
    // The pool itself is still the limit.
    expect(await ask(port, 'US1')).toEqual(busy);
  });

  it('gives a slot back when its association closes, and follows a configured share', async () => {
    const port = await start({ ...basePolicy, maxAssociationsPerCallingAe: 1 });
    const first = await connect(port);
    expect((await first.associate({ callingAe: 'CT1' })).kind).toBe('accepted');
    expect(await ask(port, 'CT1')).toEqual(busy);
    await first.release();
    await expect.poll(() => listener!.activeAssociations).toBe(0);
    expect((await ask(port, 'CT1')).kind).toBe('accepted');
    expect(listener!.stats().associationsTotal).toBe(2);
  });
});
