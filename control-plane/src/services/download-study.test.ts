import { describe, expect, it } from 'vitest';
import { archiveEntryNames } from './download-study.js';
import type { StoredInstance } from './list-stored-instances.js';

function inst(
  seriesUid: string,
  seriesNumber: string | null,
  sopUid: string,
  n: number | null,
): StoredInstance {
  return {
    seriesInstanceUid: seriesUid,
    seriesNumber,
    sopInstanceUid: sopUid,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    instanceNumber: n,
    objectId: `o${sopUid}`,
    blobKey: `k${sopUid}`,
    plainBytes: 1,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    receivedAt: new Date(0),
  };
}

describe('archiveEntryNames', () => {
  it('names by series and instance number', () => {
    expect(archiveEntryNames([inst('1.1', '3', '1.1.1', 1), inst('1.1', '3', '1.1.2', 2)])).toEqual([
      '3/1.dcm',
      '3/2.dcm',
    ]);
  });

  it('falls back to UIDs when numbers are missing, and disambiguates duplicates', () => {
    expect(
      archiveEntryNames([
        inst('1.1', null, '1.1.1', null),
        inst('1.2', '2', '1.2.1', 5),
        inst('1.2', '2', '1.2.2', 5),
        inst('1.3', '2', '1.3.1', 1),
      ]),
    ).toEqual(['1.1/1.1.1.dcm', '2_1.2/5_1.2.1.dcm', '2_1.2/5_1.2.2.dcm', '2_1.3/1.dcm']);
  });

  it('keeps every name inside the archive, whatever the header says', () => {
    const names = archiveEntryNames([
      inst('1.1', '../../etc', '1.1.1', 1),
      inst('1.2', '..', '1.2.1', 1),
      inst('1.3', '/abs', '1.3.1', 1),
      inst('1.4', ' 7 ', '1.4.1', 1),
    ]);
    expect(names).toEqual(['__.._etc/1.dcm', '_/1.dcm', '_abs/1.dcm', '7/1.dcm']);
    for (const n of names) expect(n).toMatch(/^[0-9A-Za-z_-][0-9A-Za-z._-]*\/[0-9A-Za-z._-]+\.dcm$/);
  });
});
