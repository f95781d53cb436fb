import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fateOf } from './instance-fates.js';
import { RECEIPT_KEEP_MS, ReceiptIndex } from './receipts.js';

const silent = pino({ level: 'silent' });
let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'receipts-'));
  file = join(dir, 'receipts.log');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('ReceiptIndex', () => {
  it('keeps settlements across a reopen, a receipt outranking a later refusal, and drops a torn line', async () => {
    const index = await ReceiptIndex.open(file, silent);
    const heard: string[] = [];
    index.onSettled((uid, state) => heard.push(`${uid}:${state}`));
    await Promise.all([index.record('1.1', 'delivered'), index.record('1.2', 'quarantined')]);
    await index.record('1.1', 'quarantined');
    expect(heard).toEqual(['1.1:delivered', '1.2:quarantined', '1.1:delivered']);
    await index.close();
    await appendFile(file, '{"u":"1.3","s":"d"');
    const again = await ReceiptIndex.open(file, silent);
    expect([again.get('1.1'), again.get('1.2'), again.get('1.3')]).toEqual([
      'delivered',
      'quarantined',
      undefined,
    ]);
    await again.close();
  });

  it('forgets settlements older than RECEIPT_KEEP_MS, rewriting the file', async () => {
    const index = await ReceiptIndex.open(file, silent);
    await index.record('1.1', 'delivered', 1000);
    await index.record('1.2', 'delivered', 1000 + RECEIPT_KEEP_MS);
    await index.close();
    const later = await ReceiptIndex.open(file, silent, 1001 + RECEIPT_KEEP_MS);
    expect([later.get('1.1'), later.get('1.2')]).toEqual([undefined, 'delivered']);
    await later.close();
    expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});

describe('fateOf', () => {
  const v = (state: 'spooled' | 'uploading' | 'delivered' | 'quarantined') =>
    ({ state }) as Parameters<typeof fateOf>[0][number];
  it('pending while a version is still to ship, then the receipt, then a refusal, else unknown', () => {
    expect(fateOf([v('delivered'), v('spooled')], 'delivered')).toBe('pending');
    expect(fateOf([], 'delivered')).toBe('delivered');
    expect(fateOf([v('quarantined')], 'delivered')).toBe('delivered');
    expect(fateOf([v('quarantined')], undefined)).toBe('quarantined');
    expect(fateOf([], undefined)).toBe('unknown');
  });
});
