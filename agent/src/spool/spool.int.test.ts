import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  openSpooled,
  openTempSpool,
  privateOb,
  removeTempSpool,
  sample,
  silent,
  storedId,
  writeInstance,
} from '../../../testkit/agent/spool.js';
import { part10Header } from './part10.js';
import { segmentPath } from './paths.js';
import { Spool } from './spool.js';
import { SpoolLog } from './spool-log.js';

describe('spool', () => {
  let dir: string;
  let keys: { publicJwk: JWK; privateJwk: JWK };
  let spool: Spool;

  beforeEach(async () => {
    ({ dir, keys, spool } = await openTempSpool());
  });
  afterEach(async () => {
    await removeTempSpool({ dir, spool });
  });

  it('stores meta + dataset bit-exact, encrypted, with a worklist manifest', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const outcome = await writeInstance(spool, { ...req, messageId: 1 }, dataset);
    expect(outcome.ok).toBe(true);
    const [entry] = spool.entries();
    expect(entry).toMatchObject({
      sopInstanceUid: req.sopInstanceUid,
      version: 1,
      state: 'spooled',
      callingAeTitle: 'MODALITY',
    });
    expect(entry!.inline).toBe(true);
    const { manifest, plain } = await openSpooled(spool, entry!.id, keys.privateJwk);
    expect(plain).toEqual(
      Buffer.concat([part10Header(req.sopClassUid, req.sopInstanceUid, req.transferSyntaxUid), dataset]),
    );
    expect(manifest.patient.name).toBe('CompressedSamples^CT1');
    expect(manifest.series.modality).toBe('CT');
    expect(manifest.study.instanceUid).toBe(entry!.studyInstanceUid);
    const log = await readFile(segmentPath(spool.paths, 1));
    expect(log.includes(Buffer.from('CompressedSamples'))).toBe(false);
    expect(log.includes(dataset.subarray(dataset.length - 4096))).toBe(false);
    expect(log.includes(Buffer.from(req.sopInstanceUid))).toBe(true);
  });

  it.each([
    'image_dfl.dcm',
    'MR_small_bigendian.dcm',
    'MR_small_implicit.dcm',
    'JPEG2000.dcm',
    'MR_small_RLE.dcm',
  ])('reads the header of %s without altering its bytes', async (name) => {
    const { dataset, req } = await sample(name);
    const outcome = await writeInstance(spool, { ...req, messageId: 1 }, dataset, 333);
    expect(outcome.ok).toBe(true);
    const { manifest, plain } = await openSpooled(spool, storedId(outcome), keys.privateJwk);
    expect(plain.subarray(plain.length - dataset.length)).toEqual(dataset);
    expect(manifest.sopInstanceUid).toBe(req.sopInstanceUid);
    expect(manifest.patient.name).toBeTruthy();
  });

  it('stores an identical resend once and keeps different bytes as a new version', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    const first = await writeInstance(spool, { ...req, messageId: 1 }, dataset);
    const again = await writeInstance(spool, { ...req, messageId: 2 }, dataset);
    expect(again).toMatchObject({ ok: true, duplicate: true, objectId: storedId(first) });
    const changed = Buffer.from(dataset);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 0xff;
    const second = await writeInstance(spool, { ...req, messageId: 3 }, changed);
    expect(second).toMatchObject({ ok: true, version: 2 });
    expect(spool.entries().map((e) => e.version)).toEqual([1, 2]);
  });

  it('stores concurrent identical sends once', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    const outcomes = await Promise.all(
      [1, 2, 3, 4].map((messageId) => writeInstance(spool, { ...req, messageId }, dataset)),
    );
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(spool.entries()).toHaveLength(1);
  });

  it('spills a large object to its own file and still round-trips it', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    // Pad with a private OB element after the real dataset so the object passes the inline limit
    // (random bytes: zstd would shrink a constant pad back under it).
    const big = Buffer.concat([dataset, privateOb(randomBytes(3 << 20))]);
    const outcome = await writeInstance(spool, { ...req, messageId: 1 }, big, 65536);
    expect(outcome.ok).toBe(true);
    const [entry] = spool.entries();
    expect(entry!.inline).toBe(false);
    expect(await readdir(spool.paths.objects)).toEqual([`${entry!.id}.fobj`]);
    expect((await stat(join(spool.paths.objects, `${entry!.id}.fobj`))).size).toBe(entry!.objectBytes);
    const { plain } = await openSpooled(spool, entry!.id, keys.privateJwk);
    expect(plain.subarray(plain.length - big.length).equals(big)).toBe(true);
  });

  it('reclaims a log segment once every object in it is delivered', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    const outcome = await writeInstance(spool, { ...req, messageId: 1 }, dataset);
    await spool.log.setState(storedId(outcome), 'delivered');
    expect(await readdir(spool.paths.log)).toEqual(['00000001.seg']);
    await spool.close();
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(spool.entries()[0]?.state).toBe('delivered');
  });

  it('refuses a dataset that is not the instance the request names (dicom.dataset_mismatch), and keeps nothing', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const outcome = await writeInstance(spool, { ...req, sopInstanceUid: '1.2.3.4', messageId: 1 }, dataset);
    expect(outcome).toMatchObject({ ok: false, code: 'dicom.dataset_mismatch' });
    expect(!outcome.ok && outcome.message).toMatch(/does not match/);
    expect(spool.entries()).toHaveLength(0);
    expect(await readdir(spool.paths.objects)).toHaveLength(0);
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
  });

  it('refuses a dataset whose header cannot be read (dicom.dataset_unreadable)', async () => {
    const { req } = await sample('CT_small.dcm');
    const outcome = await writeInstance(
      spool,
      { ...req, messageId: 1 },
      Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0xff]),
    );
    expect(outcome).toMatchObject({ ok: false, code: 'dicom.dataset_unreadable' });
    expect(spool.entries()).toHaveLength(0);
  });

  it('group-commits instances several associations finish together, and writes a lone one at once', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const variant = (tag: string) => Buffer.concat([dataset, privateOb(Buffer.from(tag))]);
    const first = spool.log.writes;
    expect((await writeInstance(spool, { ...req, messageId: 1 }, variant('a'))).ok).toBe(true);
    expect((await writeInstance(spool, { ...req, messageId: 2 }, variant('b'))).ok).toBe(true);
    expect(spool.log.writes - first).toBe(2);
    // Eight associations, each mid-instance until its commit: their records share log writes.
    const writers = Array.from({ length: 8 }, (_, i) => {
      const w = spool.begin({ ...req, messageId: 10 + i });
      w.write(variant(`c${i}`));
      return w;
    });
    const before = spool.log.writes;
    const outcomes = await Promise.all(writers.map((w) => w.end()));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(spool.log.writes - before).toBeLessThan(8);
    await spool.close();
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(spool.entries()).toHaveLength(10);
  });

  it('discards an aborted instance', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    const w = spool.begin({ ...req, messageId: 1 });
    w.write(dataset.subarray(0, 20_000));
    w.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
    expect(spool.entries()).toHaveLength(0);
  });

  it('recovers: drops a torn index tail, partial files and objects the index never took', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    await writeInstance(spool, { ...req, messageId: 1 }, dataset);
    await spool.close();
    const entrySize = (await stat(segmentPath(spool.paths, 1))).size;
    const readOnly = await SpoolLog.open(spool.paths, silent, { readOnly: true });
    expect(readOnly.all()).toHaveLength(1);
    await appendFile(segmentPath(spool.paths, 1), Buffer.from([0, 0, 0, 200, 0, 0, 0, 100, 1, 2, 3, 4, 123]));
    await writeFile(join(spool.paths.tmp, 'oX.part'), 'partial');
    await writeFile(join(spool.paths.objects, 'oOrphan.fobj'), 'never indexed');
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(spool.entries()).toHaveLength(1);
    expect(await readdir(spool.paths.tmp)).toHaveLength(0);
    expect(await readdir(spool.paths.objects)).toEqual([]);
    const logBytes = (await readFile(segmentPath(spool.paths, 1))).length;
    expect(logBytes).toBeLessThan(entrySize + 100_000);
    const more = await sample('MR_small.dcm');
    expect((await writeInstance(spool, { ...more.req, messageId: 2 }, more.dataset)).ok).toBe(true);
    expect(spool.entries()).toHaveLength(2);
  });

  it('rotates to a new segment, replays across segments and reclaims delivered ones oldest first', async () => {
    const { dataset, req } = await sample('CT_small.dcm');
    // ~900 KB instances stay inline, so 40 of them pass the 32 MiB rotation point (random, so
    // compression cannot shrink them).
    const pad = randomBytes(860_000);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      pad.writeUInt32LE(i, 0);
      const o = await writeInstance(
        spool,
        { ...req, messageId: i },
        Buffer.concat([dataset, privateOb(pad)]),
        65536,
      );
      expect(o.ok).toBe(true);
      ids.push(storedId(o));
    }
    expect(spool.entries().every((e) => e.inline)).toBe(true);
    const segments = (await readdir(spool.paths.log)).sort();
    expect(segments.length).toBeGreaterThanOrEqual(2);
    await spool.close();
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(spool.entries().map((e) => e.id)).toEqual(ids);
    const last = await openSpooled(spool, ids[39]!, keys.privateJwk);
    expect(last.plain.readUInt32LE(last.plain.length - pad.length)).toBe(39);
    for (const id of ids.slice(0, 20)) await spool.log.setState(id, 'delivered');
    expect((await readdir(spool.paths.log)).sort()).toEqual(segments);
    for (const id of ids.slice(20)) await spool.log.setState(id, 'delivered');
    const left = (await readdir(spool.paths.log)).sort();
    expect(left.length).toBeLessThan(segments.length);
    expect(left).toContain(segments.at(-1));
  }, 120_000);

  it('drops a last segment that never got its header, and keeps preallocated space clean', async () => {
    const { dataset, req } = await sample('MR_small.dcm');
    await writeInstance(spool, { ...req, messageId: 1 }, dataset);
    await spool.close();
    const seg1 = await stat(segmentPath(spool.paths, 1));
    await writeFile(segmentPath(spool.paths, 2), Buffer.alloc(4096));
    spool = await Spool.open(dir, keys.publicJwk, silent);
    expect(await readdir(spool.paths.log)).toEqual(['00000001.seg']);
    expect((await stat(segmentPath(spool.paths, 1))).size).toBe(seg1.size);
    expect(spool.entries()).toHaveLength(1);
  });
});
