import { readdir, readFile } from 'node:fs/promises';
import { isFerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { DICOM_SAMPLES_DIR, padSample } from '../../../testkit/control-plane/seal-object.js';
import { arrayBufferOf, dcmjs } from './dcmjs.js';
import { firstString, HeaderPrefix, parseDicomHeader } from './dicom-json.js';

const sample = (name: string) => readFile(`${DICOM_SAMPLES_DIR}/${name}`);

describe('parseDicomHeader', () => {
  it('reads every sample with File Meta Information into JSON PostgreSQL accepts', async () => {
    const names = (await readdir(DICOM_SAMPLES_DIR)).filter((n) => n.endsWith('.dcm'));
    let parsed = 0;
    for (const name of names) {
      const bytes = await sample(name);
      if (bytes.toString('latin1', 128, 132) !== 'DICM') continue;
      const h = await parseDicomHeader(bytes, { whole: true });
      const json = JSON.stringify(h.metadata);
      expect(json, name).not.toContain('\\u0000');
      expect(
        Object.keys(h.metadata).some((k) => k.startsWith('0002')),
        name,
      ).toBe(false);
      // Pixel Data only as the placeholder /metadata turns into its BulkDataURI.
      const px = h.metadata['7FE00010'];
      if (px) expect(px, name).toEqual({ vr: expect.stringMatching(/^O[BW]$/), BulkDataURI: '7FE00010' });
      expect(h.metadata['00080018'], name).toBeDefined();
      parsed++;
    }
    expect(parsed).toBeGreaterThan(45);
  });

  it('gives the same attributes for explicit little, big endian, implicit and deflated syntaxes', async () => {
    const le = await parseDicomHeader(await sample('MR_small.dcm'), { whole: true });
    for (const name of ['MR_small_bigendian.dcm', 'MR_small_implicit.dcm', 'MR_small_RLE.dcm']) {
      const other = await parseDicomHeader(await sample(name), { whole: true });
      expect(other.complete, name).toBe(true);
      for (const tag of ['00100010', '0020000D', '0020000E', '00080018', '00280010', '00200032']) {
        expect(other.metadata[tag], `${name} ${tag}`).toEqual(le.metadata[tag]);
      }
    }
    const dfl = await parseDicomHeader(await sample('image_dfl.dcm'), { whole: true });
    expect(dfl.transferSyntaxUid).toBe('1.2.840.10008.1.2.1.99');
    expect(dfl.complete).toBe(true);
    expect(firstString(dfl.metadata, '00080060')).toBeDefined();
  });

  it('follows the DICOM JSON model: PN groups, numbers, AT as hex, small binaries inline, big ones by path', async () => {
    const ct = await parseDicomHeader(await sample('CT_small.dcm'), { whole: true });
    expect(ct.complete).toBe(true);
    expect(ct.metadata['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: 'CompressedSamples^CT1' }] });
    expect(ct.metadata['00280010']).toEqual({ vr: 'US', Value: [128] });
    expect(ct.metadata['00180050']).toEqual({ vr: 'DS', Value: [5] });
    expect(ct.metadata['00431028']).toMatchObject({ vr: 'OB', InlineBinary: expect.any(String) });
    expect(Buffer.from(ct.metadata['00431028']!.InlineBinary!, 'base64')).toHaveLength(80);
    expect(ct.metadata['00431029']).toEqual({ vr: 'OB', BulkDataURI: '00431029' }); // 2068 bytes
    expect(ct.metadata['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: '7FE00010' });
    // Inside a sequence the path names the item (from 0) and the tag.
    const ecg = await parseDicomHeader(await sample('waveform_ecg.dcm'), { whole: true });
    const waveform = ecg.metadata['54000100']?.Value?.[0] as Record<string, unknown>;
    expect(waveform['54001010']).toEqual({ vr: 'OW', BulkDataURI: '54000100/0/54001010' });
    expect(ecg.metadata['7FE00010']).toBeUndefined();
    expect(ct.metadata['00101002']?.Value).toHaveLength(2); // a sequence, items as datasets
    const dose = await parseDicomHeader(await sample('rtdose.dcm'), { whole: true });
    expect(dose.metadata['00280009']).toEqual({ vr: 'AT', Value: ['3004000C'] });
    // The character set keeps the file's value (dcmjs says UTF-8 after decoding).
    const sr = await parseDicomHeader(await sample('test-SR.dcm'), { whole: true });
    expect(sr.metadata['00080005']).toEqual({ vr: 'CS', Value: ['ISO_IR 100'] });
  });

  it('splits person names into their Alphabetic, Ideographic and Phonetic groups', async () => {
    const file = dcmjs.data.DicomMessage.readFile(arrayBufferOf(await sample('CT_small.dcm')));
    file.dict['00080005'] = { vr: 'CS', Value: ['ISO_IR 192'] };
    file.dict['00100010'] = {
      vr: 'PN',
      Value: [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }],
    };
    file.dict['00080090'] = { vr: 'PN', Value: [{ Ideographic: '山田^花子' }] };
    const h = await parseDicomHeader(Buffer.from(file.write()), { whole: true });
    expect(h.metadata['00100010']).toEqual({
      vr: 'PN',
      Value: [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }],
    });
    expect(h.metadata['00080090']).toEqual({ vr: 'PN', Value: [{ Ideographic: '山田^花子' }] });
  });

  it('stops at the Pixel Data: trailing bytes, however many, are not read', async () => {
    const padded = padSample(await sample('CT_small.dcm'), 20 << 20);
    const h = await parseDicomHeader(padded.subarray(0, 64 * 1024), { whole: false });
    expect(h.complete).toBe(true);
    expect(firstString(h.metadata, '00100010')).toBe('CompressedSamples^CT1');
  });

  it('keeps what a cut-off header holds and says it is incomplete', async () => {
    const bytes = await sample('CT_small.dcm');
    const h = await parseDicomHeader(bytes.subarray(0, 1500), { whole: false });
    expect(h.complete).toBe(false);
    expect(h.problem).toBeDefined();
    expect(h.metadata['00080016']).toBeDefined();
    expect(h.metadata['00280010']).toBeUndefined();
  });

  it('refuses bytes that are not a Part-10 file', async () => {
    await expect(
      parseDicomHeader(await sample('ExplVR_LitEndNoMeta.dcm'), { whole: true }),
    ).rejects.toSatisfy((e) => isFerryError(e, 'dicom.dataset_unreadable'));
  });
});

describe('HeaderPrefix', () => {
  it('keeps only the first bytes and knows whether it holds everything', () => {
    const p = new HeaderPrefix(10);
    p.push(Buffer.from('01234'));
    expect(p.whole).toBe(true);
    p.push(Buffer.from('56789abc'));
    expect(p.whole).toBe(false);
    p.push(Buffer.from('zzz'));
    expect(p.bytes().toString()).toBe('0123456789');
  });
});
