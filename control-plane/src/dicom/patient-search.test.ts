import { describe, expect, it } from 'vitest';
import { patientSearchKey } from './patient-search.js';

describe('patientSearchKey', () => {
  it('folds case, accents and ^, keeps component groups, and leaves Hangul as syllables', () => {
    expect(patientSearchKey('MÜLLER^Zoë^^^')).toBe('muller zoe');
    expect(patientSearchKey('Hong^Gildong=洪^吉洞=홍^길동')).toBe('hong gildong=洪 吉洞=홍 길동');
    expect(patientSearchKey('Yamada^Tarou^^^=山田^太郎')).toBe('yamada tarou=山田 太郎');
    // What a user types folds the same way, so a prefix of a syllable-typed query matches.
    expect(patientSearchKey('홍^길동')).toBe(patientSearchKey('홍^길동'.normalize('NFD')));
  });
});
