import { describe, expect, it } from 'vitest';
import { aeTitleProblem, normalizeAeTitle } from './ae-title.js';

describe('AE title rules', () => {
  it.each([
    ['GATEWAY', undefined],
    ['  PACS1  ', undefined],
    ['ABCDEFGHIJKLMNOP', undefined],
    ['', 'must not be empty or all spaces'],
    ['    ', 'must not be empty or all spaces'],
    ['ABCDEFGHIJKLMNOPQ', 'must be at most 16 characters (got 17)'],
    ['A\\B', 'must not contain a backslash'],
    ['A\tB', 'must not contain control characters'],
    ['ÄRZTE', 'must use only the DICOM default character repertoire (printable ASCII)'],
  ])('%j -> %s', (title, problem) => {
    expect(aeTitleProblem(title)).toBe(problem);
  });

  it('normalizes insignificant spaces and names the problem', () => {
    expect(normalizeAeTitle(' CT01 ')).toBe('CT01');
    expect(() => normalizeAeTitle('A\\B')).toThrow('AE title "A\\B" must not contain a backslash');
  });
});
