import { describe, expect, it } from 'vitest';
import type { QidoLevel } from './qido-query.js';
import { ignoredKeysWarning, parseDateRange, parseQidoQuery, QIDO_LIMITS } from './qido-query.js';

const parse = <L extends QidoLevel = 'study'>(q: string, level: L = 'study' as L) =>
  parseQidoQuery(new URLSearchParams(q), level);

describe('parseQidoQuery', () => {
  it('takes attributes by keyword or tag, and keeps wildcards for later escaping', () => {
    expect(parse('PatientName=DOE^J*').filters.patientName).toEqual({ value: 'DOE^J*', wildcard: true });
    expect(parse('00100010=doe').filters.patientName).toEqual({ value: 'doe', wildcard: false });
    expect(parse('00100020=A%25B').filters.patientId).toEqual({ value: 'A%B', wildcard: false });
    expect(parse('AccessionNumber=A?1').filters.accessionNumber).toEqual({ value: 'A?1', wildcard: true });
  });

  it('treats an empty value or a lone * as universal matching', () => {
    expect(parse('PatientName=&PatientID=*&StudyDate=').filters).toEqual({});
  });

  it('reads UID lists from commas, backslashes and repeated keys, and checks them', () => {
    expect(parse('StudyInstanceUID=1.2,1.3%5C1.4&0020000D=1.2').filters.studyInstanceUids).toEqual([
      '1.2',
      '1.3',
      '1.4',
    ]);
    expect(() => parse("StudyInstanceUID=1.2'")).toThrow(/not valid/);
    expect(() => parse(`StudyInstanceUID=${'1'.repeat(65)}`)).toThrow(/not valid/);
  });

  it('reads date ranges in DICOM and ISO form', () => {
    expect(parseDateRange('d', '20240101')).toEqual({ from: '20240101', to: '20240101' });
    expect(parseDateRange('d', '20240101-20240131')).toEqual({ from: '20240101', to: '20240131' });
    expect(parseDateRange('d', '-20240131')).toEqual({ to: '20240131' });
    expect(parseDateRange('d', '20240101-')).toEqual({ from: '20240101' });
    expect(parseDateRange('d', '2024-01-01')).toEqual({ from: '20240101', to: '20240101' });
    expect(parseDateRange('d', '2024-01-01-2024-01-31')).toEqual({ from: '20240101', to: '20240131' });
    expect(parseDateRange('d', '2024.01.02')).toEqual({ from: '20240102', to: '20240102' });
    expect(parseDateRange('d', '')).toBeUndefined();
    for (const bad of ['2024', '20241301', '20240132', '20240201-20240101', 'x-y', '2024-1-1']) {
      expect(() => parseDateRange('d', bad), bad).toThrow();
    }
  });

  it('applies each level its own keys and reports the others as ignored', () => {
    const study = parse('Modality=CT&PatientName=x&Foo=1');
    expect(study.filters).toEqual({ patientName: { value: 'x', wildcard: false } });
    expect(study.ignored).toEqual(['Modality', 'Foo']);
    const series = parse('Modality=CT,MR&SeriesNumber=007&PatientName=x', 'series');
    expect(series.filters).toEqual({ modalities: ['CT', 'MR'], seriesNumber: '7' });
    expect(series.ignored).toEqual(['PatientName']);
    const inst = parse('SOPInstanceUID=1.2&InstanceNumber=3&SeriesInstanceUID=1.3', 'instance');
    expect(inst.filters).toEqual({
      sopInstanceUids: ['1.2'],
      instanceNumber: 3,
      seriesInstanceUids: ['1.3'],
    });
    expect(() => parse('InstanceNumber=3x', 'instance')).toThrow(/integer/);
    expect(ignoredKeysWarning(['Foo', 'includefield=Bar"'])).toBe(
      '299 ferry "The following query keys were ignored: Foo, includefield=Bar_"',
    );
    expect(ignoredKeysWarning([])).toBeUndefined();
  });

  it('reads limit, offset, fuzzymatching and includefield', () => {
    const q = parse('limit=5&offset=10&fuzzymatching=true&includefield=00081030,StudyID&includefield=Nope');
    expect(q).toMatchObject({ limit: 5, offset: 10, fuzzy: true, ignored: ['includefield=Nope'] });
    expect(q.include).toEqual(new Set(['00081030', '00200010']));
    expect(parse('includefield=all&includefield=00081030').include).toBe('all');
    expect(parse('').limit).toBe(QIDO_LIMITS.study.default);
    expect(parse('limit=0').limit).toBe(QIDO_LIMITS.study.default);
    expect(parse('limit=999999').limit).toBe(QIDO_LIMITS.study.max);
    expect(() => parse('limit=-1')).toThrow();
    expect(() => parse('offset=1.5')).toThrow();
    expect(() => parse('PatientName=a&PatientName=b')).toThrow(/2 times/);
  });
});
