import { describe, expect, it } from 'vitest';
import type { DicomJson } from '../dicom/dicom-json.js';
import { instanceFieldsOf } from './instance-fields.js';

const uids = {
  '00080018': { vr: 'UI', Value: ['1.2.3.4.1'] },
  '0020000D': { vr: 'UI', Value: ['1.2.3.4'] },
  '0020000E': { vr: 'UI', Value: ['1.2.3.4.2'] },
} satisfies DicomJson;

describe('instanceFieldsOf (the index fields from the parsed header)', () => {
  it('keeps every person-name group, as DICOM writes them, for the worklist and name matching', () => {
    const fields = instanceFieldsOf({
      ...uids,
      '00100010': {
        vr: 'PN',
        Value: [{ Alphabetic: 'Yamada^Tarou', Ideographic: '山田^太郎', Phonetic: 'やまだ^たろう' }],
      },
      '00080090': { vr: 'PN', Value: [{ Alphabetic: 'Smith^Ann' }] },
    });
    expect(fields.patient.name).toBe('Yamada^Tarou=山田^太郎=やまだ^たろう');
    expect(fields.study.referringPhysician).toBe('Smith^Ann');
  });

  it('keeps an empty alphabetic group before an ideographic one, and drops trailing empty groups', () => {
    const fields = instanceFieldsOf({
      ...uids,
      '00100010': { vr: 'PN', Value: [{ Ideographic: '洪^吉洞' }] },
    });
    expect(fields.patient.name).toBe('=洪^吉洞');
  });

  it('refuses a header without the UIDs the index is keyed on', () => {
    expect(() => instanceFieldsOf({ '00080018': uids['00080018'] })).toThrow(/no Study Instance UID/);
  });
});
