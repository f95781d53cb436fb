// Receive → spool → upload → verify → worklist → DICOMweb, across real processes, on both blob
// backends. What WADO-RS returns must be byte-identical to what DCMTK's storescp (+B) received from
// the same send, and QIDO must list each study with the right attributes. Then the same instances
// through dicomweb-client, the client OHIF uses: metadata, frames and bulk data of every one, the
// frames equal to the Pixel Data storescp received (read by pydicom, not by the server's dcmjs).
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { mapLimit } from '@ferry/shared';
import dicomweb from 'dicomweb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cloud, startCloud } from '../harness/cloud.js';
import { bigInstance, corpusFiles, ctCorpus } from '../harness/corpus.js';
import { requireTool, topLevelStrings } from '../harness/dcmtk.js';
import { sha256 } from '../harness/part10.js';
import { type ExpectedPixels, expectedPixels } from '../harness/pixel-frames.js';
import {
  describeRef,
  expectDeliveredIdentical,
  PARALLEL,
  type Sent,
  sendBoth,
  sendPydicomSamples,
  successes,
  uids,
} from '../harness/reference-send.js';
import { datasetHash } from '../harness/spool.js';

type DicomJson = Record<
  string,
  { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }
>;
interface InstanceRef {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
}
type MediaTypes = { mediaType: string; transferSyntaxUID?: string }[];
/** The part of dicomweb-client 0.11.3 used here (its typings mark every option as required). */
interface ViewerClient {
  retrieveInstanceMetadata(o: InstanceRef): Promise<DicomJson[]>;
  retrieveInstanceFrames(
    o: InstanceRef & { frameNumbers: string; mediaTypes?: MediaTypes },
  ): Promise<ArrayBuffer[]>;
  retrieveBulkData(o: { BulkDataURI: string }): Promise<ArrayBuffer[]>;
}
const ViewerClientClass = dicomweb.api.DICOMwebClient as unknown as new (opts: {
  url: string;
  headers: Record<string, string>;
  verbose: boolean;
}) => ViewerClient;

/** What OHIF's image loader asks for: every frame as stored, whatever its syntax. */
const AS_STORED: MediaTypes = [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }];
/** An encapsulated syntax's own media type (PS3.18 table 8.7.3-2), where dicomweb-client offers it. */
const MEDIA_TYPE_OF: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'image/jpeg',
  '1.2.840.10008.1.2.4.51': 'image/jpeg',
  '1.2.840.10008.1.2.4.57': 'image/jpeg',
  '1.2.840.10008.1.2.4.70': 'image/jpeg',
  '1.2.840.10008.1.2.4.80': 'image/jls',
  '1.2.840.10008.1.2.4.81': 'image/jls',
  '1.2.840.10008.1.2.4.90': 'image/jp2',
  '1.2.840.10008.1.2.4.91': 'image/jp2',
};

/** Every BulkDataURI in a DICOM JSON dataset, sequences included, with the tag path that holds it. */
function bulkDataUris(d: DicomJson, path = ''): { path: string; uri: string }[] {
  return Object.entries(d).flatMap(([tag, el]) => {
    const here = path ? `${path}/${tag}` : tag;
    if (el.BulkDataURI) return [{ path: here, uri: el.BulkDataURI }];
    if (el.vr === 'SQ')
      return (el.Value ?? []).flatMap((item, i) => bulkDataUris(item as DicomJson, `${here}[${i}]`));
    return [];
  });
}

const shaOf = (parts: ArrayBuffer[]): string[] => parts.map((p) => sha256(Buffer.from(p)));
const joinedSha = (parts: ArrayBuffer[]): string => sha256(Buffer.concat(parts.map((p) => Buffer.from(p))));

type Outcome<T> = { ok: true; value: T } | { ok: false; status: number | undefined; code?: string };

/** A dicomweb-client call's result, or its rejection as status and error code (the API's JSON error). */
async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    const err = e as { status?: number; response?: ArrayBuffer };
    let code: string | undefined;
    try {
      const body = Buffer.from(err.response ?? new ArrayBuffer(0)).toString('utf8');
      code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    return { ok: false, status: err.status, code };
  }
}

/**
 * For every instance (the last send of each SOP Instance UID), through dicomweb-client: its metadata
 * names it and carries every non-empty binary value as InlineBinary or BulkDataURI; every BulkDataURI
 * resolves to a non-empty value, Pixel Data's to the value storescp received; frames asked as OHIF
 * asks them (transfer-syntax=*), in the syntax's own media type, or with dicomweb-client's default
 * Accept (octet-stream, no transfer syntax: Explicit VR Little Endian) are what storescp received
 * (native: the Pixel Data slice, in little endian; encapsulated: the frame's fragments); an instance without pixel data has no frames (404 dicomweb.no_pixel_data). Every
 * problem of every instance is listed, not only the first.
 */
async function expectViewerRetrievable(cloud: Cloud, sent: Sent[]): Promise<void> {
  (globalThis as Record<string, unknown>).XMLHttpRequest ??= createRequire(import.meta.url)('xhr2');
  const base = `${cloud.cp.url}/dicomweb`;
  const client = new ViewerClientClass({
    url: base,
    headers: { Authorization: `Bearer ${cloud.session}` },
    verbose: false,
  });
  const latest = [...new Map(sent.map((s) => [s.sopUid, s])).values()];
  const expected = new Map(
    (await expectedPixels(latest.map((s) => s.refFile))).map((e): [string, ExpectedPixels] => [e.file, e]),
  );
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  /** The call's value, or undefined with the failure listed as a problem. */
  const value = async <T>(what: string, p: Promise<T>): Promise<T | undefined> => {
    const r = await outcome(p);
    if (r.ok) return r.value;
    problems.push(`${what}: ${r.status} ${r.code ?? ''}`);
    return undefined;
  };
  for (const s of latest) {
    const want = expected.get(s.refFile);
    if (!want) throw new Error(`pixel_frames.py said nothing of ${s.refFile}`);
    const ref: InstanceRef = {
      studyInstanceUID: s.studyUid,
      seriesInstanceUID: s.seriesUid,
      sopInstanceUID: s.sopUid,
    };
    const name = `${s.name} (${want.transferSyntax})`;

    const metadata = await value(`${name}: metadata`, client.retrieveInstanceMetadata(ref));
    const m = metadata?.[0];
    if (metadata && (metadata.length !== 1 || !m))
      problems.push(`${name}: metadata has ${metadata.length} datasets`);
    if (m) {
      check(m['00080018']?.Value?.[0] === s.sopUid, `${name}: metadata names another instance`);
      for (const tag of want.binaryTags)
        check(
          m[tag]?.InlineBinary !== undefined || m[tag]?.BulkDataURI !== undefined,
          `${name}: metadata has neither InlineBinary nor BulkDataURI for ${tag}`,
        );
      check(
        !want.hasPixelData || m['7FE00010']?.BulkDataURI !== undefined,
        `${name}: Pixel Data has no BulkDataURI`,
      );
      for (const { path, uri } of bulkDataUris(m)) {
        const BulkDataURI = new URL(uri, `${base}/`).toString();
        const parts = await value(`${name}: bulk data ${path}`, client.retrieveBulkData({ BulkDataURI }));
        if (!parts) continue;
        const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
        check(bytes > 0, `${name}: bulk data ${path} is empty`);
        if (path !== '7FE00010') continue;
        if (want.encapsulated)
          // PS3.18 does not say whether encapsulated bulk data keeps its item headers: either is the value.
          check(
            [want.fragments?.sha256, want.pixelData?.sha256].includes(joinedSha(parts)),
            `${name}: Pixel Data bulk data (${bytes} bytes) is neither the fragments (${want.fragments?.length}) nor the value (${want.pixelData?.length}) storescp received`,
          );
        else
          check(
            joinedSha(parts) === want.pixelDataLe?.sha256,
            `${name}: Pixel Data bulk data differs from the value storescp received (${bytes} bytes, want ${want.pixelDataLe?.length})`,
          );
      }
    }

    if (!want.hasPixelData) {
      const f = await outcome(client.retrieveInstanceFrames({ ...ref, frameNumbers: '1' }));
      check(
        !f.ok && f.status === 404 && f.code === 'dicomweb.no_pixel_data',
        `${name}: frames of an instance without pixel data gave ${f.ok ? 200 : `${f.status} ${f.code}`}`,
      );
      continue;
    }
    const numbers = Object.keys(want.frames ?? {});
    const frameNumbers = numbers.join(',');
    const lengths = numbers.map((n) => want.frames?.[n]?.length);
    // Native frames travel as application/octet-stream, which PS3.18 only knows in little endian: a
    // big endian instance's frames are its Pixel Data slices byte-swapped, even as stored (`*`).
    const stored = numbers.map((n) =>
      want.encapsulated ? want.frames?.[n]?.sha256 : want.frames?.[n]?.leSha256,
    );
    const same = (parts: ArrayBuffer[], what: string) =>
      check(
        JSON.stringify(shaOf(parts)) === JSON.stringify(stored),
        `${name}: frames ${frameNumbers} ${what} differ from storescp's (${parts.map((p) => p.byteLength)} bytes, want ${lengths})`,
      );
    const frames = (mediaTypes: MediaTypes | undefined, what: string) =>
      value(
        `${name}: frames ${frameNumbers} ${what}`,
        client.retrieveInstanceFrames({ ...ref, frameNumbers, ...(mediaTypes ? { mediaTypes } : {}) }),
      );
    const asStored = await frames(AS_STORED, 'as stored');
    if (asStored) same(asStored, 'as stored');
    const ownType = MEDIA_TYPE_OF[want.transferSyntax];
    if (ownType) {
      const own = await frames(
        [{ mediaType: ownType, transferSyntaxUID: want.transferSyntax }],
        `as ${ownType}`,
      );
      if (own) same(own, `as ${ownType}`);
    }
    if (!want.encapsulated) {
      const native = await frames(undefined, 'in Explicit VR Little Endian');
      if (native) same(native, 'in Explicit VR Little Endian');
    }
  }
  expect(problems).toEqual([]);
}

describe.each([
  { blobs: 'fs' as const, database: 'pglite' as const },
  { blobs: 's3' as const, database: 'postgres' as const },
])('upload end to end ($blobs blobs, $database)', ({ blobs, database }) => {
  let cloud: Cloud;
  /** What the first test sent, for the viewer's test after it. */
  let samples: Sent[] = [];

  beforeAll(async () => {
    for (const tool of ['storescu', 'storescp', 'dcmdump']) requireTool(tool);
    cloud = await startCloud({ name: `corpus-${blobs}`, blobs, database, stablePeriodSeconds: 2 });
  }, 120_000);

  afterAll(() => cloud?.close());

  it('delivers every pydicom sample byte-identical, and QIDO lists each study', async () => {
    const sent = await sendPydicomSamples(cloud, join(cloud.root, 'ref-samples'));
    await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-samples'));
    samples = sent;

    // QIDO: every study, by its UID, with the patient attributes storescp saw.
    for (const s of new Map(sent.map((x) => [x.studyUid, x])).values()) {
      const res = await cloud.cp.fetch(`${cloud.cp.url}/dicomweb/studies?StudyInstanceUID=${s.studyUid}`, {
        headers: { authorization: `Bearer ${cloud.session}`, accept: 'application/dicom+json' },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/application\/dicom\+json/);
      const body = (await res.json()) as Record<string, { Value?: unknown[] }>[];
      expect(body, s.name).toHaveLength(1);
      expect(body[0]?.['0020000D']?.Value).toEqual([s.studyUid]);
      const patientId = (await topLevelStrings(s.refFile, ['0010,0020']))['0010,0020']?.trim();
      if (patientId) expect(body[0]?.['00100020']?.Value, s.name).toEqual([patientId]);
    }
  }, 900_000);

  it('gives dicomweb-client the metadata, frames and bulk data of every pydicom sample', async () => {
    if (samples.length === 0) throw new Error('runs after the test that sends the samples');
    await expectViewerRetrievable(cloud, samples);
  }, 300_000);

  it('delivers a 300-slice CT byte-identical', async () => {
    const files = await corpusFiles(await ctCorpus());
    const { agent, refFiles } = await sendBoth(cloud, files, [], join(cloud.root, 'ref-ct'));
    expect(successes(agent)).toHaveLength(files.length);
    const sent = await mapLimit(refFiles, PARALLEL, (refFile) => describeRef(basename(refFile), refFile));
    expect(new Set(sent.map((s) => s.studyUid)).size).toBe(1);
    await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-ct'));
    // The viewer's view of the series: first, middle and last slice (the samples cover the syntaxes).
    await expectViewerRetrievable(
      cloud,
      [0, sent.length >> 1, sent.length - 1].flatMap((i) => sent[i] ?? []),
    );
  }, 900_000);

  // Once is enough for the big one: it is about bounded memory, which does not depend on the backend.
  if (blobs === 'fs')
    it('delivers a 1 GiB multi-frame instance byte-identical', async () => {
      const file = await bigInstance(1024 * 1024 * 1024 + 1024 * 1024);
      const { agent, refFiles } = await sendBoth(cloud, [file], [], join(cloud.root, 'ref-big'));
      expect(successes(agent)).toHaveLength(1);
      const refFile = refFiles[0];
      if (!refFile) throw new Error('storescp kept nothing');
      const sent = [
        { name: 'big', ...(await uids(refFile)), refSha: (await datasetHash(refFile)).sha256, refFile },
      ];
      await expectDeliveredIdentical(cloud, sent, join(cloud.root, 'wado-big'));
      expect(await cloud.agent.peakRss()).toBeLessThan(400 * 1024 * 1024);
    }, 1_200_000);
});
