import { describe, expect, it } from 'vitest';
import { decodeText, type TextVr, textValues } from './charset-decode.js';
import { type CharsetIssue, characterSetOf } from './charset-terms.js';

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
function decode(raw: string, charset: string, vr: TextVr = 'PN') {
  const issues = new Set<CharsetIssue>();
  const text = decodeText(bytes(raw), characterSetOf(charset), vr, issues);
  return { text, issues: [...issues] };
}

describe('decodeText: the PS3.5 examples', () => {
  it('Annex H: Japanese with JIS X 0208 (and JIS X 0201 katakana) by escape sequences', () => {
    expect(
      decode(
        'Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B',
        '\\ISO 2022 IR 87',
      ),
    ).toEqual({ text: 'Yamada^Tarou=山田^太郎=やまだ^たろう', issues: [] });
    expect(
      decode(
        '\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J',
        'ISO 2022 IR 13\\ISO 2022 IR 87',
      ),
    ).toEqual({ text: 'ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう', issues: [] });
  });

  it('Annex I: Korean, KS X 1001 in G1 designated again after each delimiter', () => {
    const raw =
      'Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf';
    expect(decode(raw, '\\ISO 2022 IR 149')).toEqual({ text: 'Hong^Gildong=洪^吉洞=홍^길동', issues: [] });
    // The form that reached the worklist with ESC$)C in it before.
    expect(decode('\x1b$)C\xb1\xe8\xc8\xf1\xc1\xdf\x1b(B', '\\ISO 2022 IR 149').text).toBe('김희중');
  });

  it('Annex J: UTF-8 and GB18030 without code extensions', () => {
    expect(decode('Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=', 'ISO_IR 192').text).toBe(
      'Wang^XiaoDong=王^小東=',
    );
    expect(decode('Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab=', 'GB18030').text).toBe('Wang^XiaoDong=王^小东=');
  });

  it('JIS X 0212 (IR 159) and GB2312 (IR 58)', () => {
    expect(decode('\x1b$(D\x30\x21\x1b(B', '\\ISO 2022 IR 159', 'LO').text).toBe('丂');
    expect(decode('\x1b$)A\xcd\xf5', '\\ISO 2022 IR 58', 'LO').text).toBe('王');
  });
});

describe('decodeText: switching and resets', () => {
  const latinGreek = 'ISO 2022 IR 100\\ISO 2022 IR 126';

  it('switches G1 on an escape and returns to value 1 at CR LF, FF and TAB', () => {
    expect(decode('\x1b-F\xe1\xe2\r\n\xe1\x1b-F\xe1\t\xe1\x1b-F\xe1\x0c\xe1', latinGreek, 'LT').text).toBe(
      'αβ\r\ná\u03b1\tá\u03b1\x0cá',
    );
  });

  it('resets at ^ and = in PN, at \\ in multi-valued VRs, and not at \\ in LT', () => {
    expect(decode('\x1b-F\xe1^\xe1=\x1b-F\xe2=\xe2', latinGreek).text).toBe('α^á=β=â');
    const lo = decode('\x1b-F\xe1\\\xe1', latinGreek, 'LO').text;
    expect(textValues(lo, 'LO')).toEqual(['α', 'á']);
    const lt = decode('\x1b-F\xe1\\\xe1', latinGreek, 'LT').text;
    expect(textValues(lt, 'LT')).toEqual(['α\\α']);
  });

  it('keeps ^ = \\ bytes that are halves of a two-byte JIS character', () => {
    // 0x3D21, 0x5E3D, 0x305C and 0x5C30 are kanji; a splitter on bytes would cut them apart.
    const text = decode('\x1b$B\x3d\x21\x5e\x3d\x1b(B^\x1b$B\x30\x5c\x5c\x30\x1b(B', '\\ISO 2022 IR 87').text;
    expect(text).toBe('宗渊^移椣');
    expect(decode('\x1b$B;3 ED\x1b(B', '\\ISO 2022 IR 87').text).toBe('山 田');
    expect(textValues(decode('\x1b$B\x30\x5c\x5c\x30\x1b(B', '\\ISO 2022 IR 87', 'LO').text, 'LO')).toEqual([
      '移椣',
    ]);
  });

  it('decodes a single value-1 set on both halves and ISO_IR 13 as Shift_JIS', () => {
    expect(decode('Buc^J\xe9r\xf4me', 'ISO_IR 100').text).toBe('Buc^Jérôme');
    expect(decode('\xe1\xe2', 'ISO_IR 126').text).toBe('αβ');
    expect(decode('\xd4\xcf\xc0\xde^\x8eR\x93c', 'ISO_IR 13').text).toBe('ﾔﾏﾀﾞ^山田');
  });
});

describe('decodeText: what is wrong is decoded as far as it can be, never thrown', () => {
  it('unknown and misspelled terms', () => {
    expect(characterSetOf('ISO_IR 999').issues).toEqual(['unknown-term']);
    expect(decode('Buc^J\xe9r\xf4me', 'ISO_IR 999')).toEqual({
      text: 'Buc^Jérôme',
      issues: ['bytes-outside-charset'],
    });
    expect(decode('J\xe9r\xf4me', 'ISO IR 100').text).toBe('Jérôme');
    expect(characterSetOf('ISO IR 100').issues).toEqual(['misspelled-term']);
    expect(characterSetOf('ISO_IR 192\\ISO 2022 IR 87').issues).toEqual(['ignored-extension']);
    expect(decode('\xd4\xcf^\x1b$B;3\x1b(J', 'ISO_IR 13\\ISO 2022 IR 87')).toEqual({
      text: 'ﾔﾏ^山',
      issues: [],
    });
    expect(characterSetOf('ISO_IR 13\\ISO 2022 IR 87').issues).toEqual(['misspelled-term']);
  });

  it('GR bytes a sender left without a designation after a delimiter keep the last G1 set, flagged', () => {
    expect(decode('\x1b$)C\xb1\xe8^\xc8\xf1\xc1\xdf', '\\ISO 2022 IR 149')).toEqual({
      text: '김^희중',
      issues: ['bytes-outside-charset'],
    });
  });

  it('unknown and undeclared escapes, truncated and invalid multi-byte characters', () => {
    expect(decode('\x1b%Gabc', '\\ISO 2022 IR 87')).toEqual({ text: 'abc', issues: ['unknown-escape'] });
    expect(decode('\x1b$)C\xb1\xe8', '')).toEqual({ text: '김', issues: ['undeclared-escape'] });
    expect(decode('\x1b$B;', '\\ISO 2022 IR 87')).toEqual({ text: '\uFFFD', issues: ['invalid-bytes'] });
    expect(decode('\x1b$)C\xb1', '\\ISO 2022 IR 149')).toEqual({ text: '\uFFFD', issues: ['invalid-bytes'] });
    expect(decode('\xff\xfe', 'ISO_IR 192')).toEqual({ text: '\uFFFD\uFFFD', issues: ['invalid-bytes'] });
    expect(decode('\x1b', '')).toEqual({ text: '', issues: ['unknown-escape'] });
  });
});
