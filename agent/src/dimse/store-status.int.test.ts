import type { ErrorCode } from '@ferry/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTempSpool, removeTempSpool, sample, type TempSpool } from '../../../testkit/agent/spool.js';
import { Status, type StoreHandler, type StoreOutcome, type StoreRequest } from './store-handler.js';
import { dimseStore, storeFailureStatus, storeOutcomeOf } from './store-status.js';

describe('C-STORE status of a spool result', () => {
  it.each<[ErrorCode, number]>([
    ['dicom.dataset_mismatch', 0xa900],
    ['spool.out_of_space', 0xa700],
    ['spool.io_error', 0xa700],
    ['dicom.dataset_unreadable', 0xc211],
    ['dicom.pdu_malformed', 0xc211],
    ['spool.corrupt', 0xc211],
    ['internal.unexpected', 0xc211],
  ])('answers %s with 0x%s', (code, status) => {
    expect(storeFailureStatus(code)).toBe(status);
    expect(storeOutcomeOf({ ok: false, code, message: 'why' })).toEqual({ status, errorComment: 'why' });
  });

  it('answers Success with the object, and says when it was a duplicate', () => {
    const stored = { ok: true, objectId: 'o1', version: 2, plainBytes: 10 } as const;
    expect(storeOutcomeOf(stored)).toEqual({
      status: Status.Success,
      objectId: 'o1',
      version: 2,
      plainBytes: 10,
    });
    expect(storeOutcomeOf({ ...stored, duplicate: true })).toMatchObject({
      status: Status.Success,
      duplicate: true,
    });
  });
});

describe('the spool as the DIMSE store', () => {
  let t: TempSpool;
  let store: StoreHandler;

  beforeEach(async () => {
    t = await openTempSpool();
    store = dimseStore(t.spool);
  });
  afterEach(async () => {
    await removeTempSpool(t);
  });

  async function send(req: StoreRequest, dataset: Buffer): Promise<StoreOutcome> {
    const w = store.begin(req);
    for (let off = 0; off < dataset.length; off += 4096) w.write(dataset.subarray(off, off + 4096));
    return w.end();
  }

  it('answers 0x0000 once stored, and 0x0000 again for an identical resend', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const first = await send(req, dataset);
    expect(first).toMatchObject({ status: Status.Success, version: 1 });
    expect(t.spool.entry(first.objectId!)).toBeDefined();
    expect(await send({ ...req, messageId: 2 }, dataset)).toMatchObject({
      status: Status.Success,
      duplicate: true,
      objectId: first.objectId,
    });
  });

  it('answers 0xA900 when the dataset is not the instance the request names, and keeps nothing', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const outcome = await send({ ...req, sopInstanceUid: '1.2.3.4' }, dataset);
    expect(outcome.status).toBe(Status.DataSetDoesNotMatchSopClass);
    expect(outcome.errorComment).toMatch(/does not match/);
    expect(t.spool.entries()).toHaveLength(0);
  });

  it('answers 0xC211 for a dataset whose header cannot be read', async () => {
    const { req } = await sample('CT_small.dcm');
    const outcome = await send(req, Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0xff]));
    expect(outcome.status).toBe(Status.CannotUnderstand);
    expect(t.spool.entries()).toHaveLength(0);
  });

  it('passes an abort through: nothing is kept', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const w = store.begin(req);
    w.write(dataset.subarray(0, 20_000));
    w.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(t.spool.entries()).toHaveLength(0);
  });
});
