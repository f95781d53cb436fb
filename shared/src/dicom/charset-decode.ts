/**
 * Decoding a text value's bytes per PS3.5 6.1.2.5 (code extensions, ISO 2022): escape sequences
 * designate sets into G0 (GL bytes, 0x21–0x7E) and G1 (GR bytes, 0xA1–0xFE); each value starts in the
 * sets of Specific Character Set value 1 and returns to them at CR, LF, FF and TAB, at `\` between
 * values, and in PN at `^` and `=` (6.1.2.5.3). Per-run decoding is TextDecoder's (euc-jp, euc-kr,
 * gbk, iso-8859-x); the escapes are handled here. Never throws: what cannot be decoded becomes
 * U+FFFD and is reported through `issues`.
 */
import type { CharacterSet, CharsetIssue, GraphicSet } from './charset-terms.js';

/** The VRs whose values Specific Character Set applies to (PS3.5 6.1.2.3). */
export type TextVr = 'PN' | 'SH' | 'LO' | 'UC' | 'ST' | 'LT' | 'UT';
const TEXT_VRS: ReadonlySet<string> = new Set<TextVr>(['PN', 'SH', 'LO', 'UC', 'ST', 'LT', 'UT']);
/** Single-valued text: `\` is a character there, not a separator. */
const SINGLE_VALUED: ReadonlySet<string> = new Set(['ST', 'LT', 'UT']);

export function isTextVr(vr: string): vr is TextVr {
  return TEXT_VRS.has(vr);
}

const ESC = 0x1b;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const EQUALS = 0x3d;
/** CR, LF, FF and TAB: the set of value 1 is active again after each (PS3.5 6.1.2.5.3). */
const CONTROL_RESETS: ReadonlySet<number> = new Set([0x0d, 0x0a, 0x0c, 0x09]);
const REPLACEMENT = '\uFFFD';

/** Final bytes of `ESC - F`: the 96-character sets of Table C.12-3. */
const G1_96: Readonly<Record<string, GraphicSet>> = {
  A: 'latin1',
  B: 'iso-8859-2',
  C: 'iso-8859-3',
  D: 'iso-8859-4',
  F: 'iso-8859-7',
  G: 'iso-8859-6',
  H: 'iso-8859-8',
  L: 'iso-8859-5',
  M: 'iso-8859-9',
  T: 'tis-620',
};

/** Escape sequence (intermediate bytes and final byte after ESC) → which G it designates, and what. */
function designation(seq: string): { g: 0 | 1; set: GraphicSet } | undefined {
  switch (seq) {
    case '(B':
      return { g: 0, set: 'ascii' };
    case '(J':
      return { g: 0, set: 'jis-x0201-romaji' };
    case ')I':
      return { g: 1, set: 'jis-x0201-katakana' };
    // ESC $ @ (JIS C 6226-1978) and ESC $ ( B are older spellings of the same designation.
    case '$B':
    case '$@':
    case '$(B':
      return { g: 0, set: 'jis-x0208' };
    case '$(D':
      return { g: 0, set: 'jis-x0212' };
    case '$)C':
      return { g: 1, set: 'ks-x1001' };
    case '$)A':
      return { g: 1, set: 'gb2312' };
  }
  const set = seq.length === 2 && seq[0] === '-' ? G1_96[seq[1] ?? ''] : undefined;
  return set ? { g: 1, set } : undefined;
}

const TWO_BYTE: ReadonlySet<GraphicSet> = new Set(['jis-x0208', 'jis-x0212', 'ks-x1001', 'gb2312']);

type Decoder = InstanceType<typeof TextDecoder>;
const decoders = new Map<string, Decoder>();
function decoderFor(label: string, fatal = false): Decoder {
  const key = `${label}/${fatal}`;
  let d = decoders.get(key);
  if (!d) {
    d = new TextDecoder(label, { fatal });
    decoders.set(key, d);
  }
  return d;
}

/** GR bytes 0x80–0xFF of a single-byte G1 set; C1 (0x80–0x9F) stays C1, as ISO 8859 has it. */
const upperHalves = new Map<GraphicSet, string>();
function upperHalf(set: GraphicSet): string {
  let table = upperHalves.get(set);
  if (table !== undefined) return table;
  const chars: string[] = [];
  for (let b = 0x80; b <= 0xff; b++) {
    if (b < 0xa0 || set === 'latin1') chars.push(String.fromCharCode(b));
    else if (set === 'jis-x0201-katakana')
      chars.push(b >= 0xa1 && b <= 0xdf ? String.fromCharCode(0xff61 + b - 0xa1) : REPLACEMENT);
    // WHATWG reads iso-8859-9 as windows-1254 and tis-620 as windows-874: equal from 0xA0 up.
    else chars.push(decoderFor(set).decode(Uint8Array.of(b)));
  }
  table = chars.join('');
  upperHalves.set(set, table);
  return table;
}

/** How a two-byte set's run is handed to TextDecoder: its EUC form and that encoding. */
function eucOf(set: GraphicSet, b1: number, b2: number): { label: string; bytes: number[] } {
  switch (set) {
    case 'jis-x0208':
      return { label: 'euc-jp', bytes: [b1 | 0x80, b2 | 0x80] };
    case 'jis-x0212':
      return { label: 'euc-jp', bytes: [0x8f, b1 | 0x80, b2 | 0x80] };
    case 'ks-x1001':
      return { label: 'euc-kr', bytes: [b1 | 0x80, b2 | 0x80] };
    default:
      return { label: 'gbk', bytes: [b1 | 0x80, b2 | 0x80] };
  }
}

class Output {
  private decoded = '';
  private run: number[] = [];
  private runLabel = '';

  constructor(private readonly issues: Set<CharsetIssue> | undefined) {}

  text(s: string): void {
    if (this.run.length > 0) this.flush();
    this.decoded += s;
  }

  pair(set: GraphicSet, b1: number, b2: number): void {
    const { label, bytes } = eucOf(set, b1, b2);
    if (label !== this.runLabel) this.flush();
    this.runLabel = label;
    this.run.push(...bytes);
  }

  flag(issue: CharsetIssue): void {
    this.issues?.add(issue);
  }

  flush(): void {
    if (this.run.length === 0) return;
    const s = decoderFor(this.runLabel).decode(Uint8Array.from(this.run));
    if (s.includes(REPLACEMENT)) this.flag('invalid-bytes');
    this.decoded += s;
    this.run = [];
  }

  done(): string {
    this.flush();
    return this.decoded;
  }
}

function decodeStandAlone(bytes: Uint8Array, label: string, issues: Set<CharsetIssue> | undefined): string {
  try {
    return decoderFor(label, true).decode(bytes);
  } catch {
    issues?.add('invalid-bytes');
    return decoderFor(label).decode(bytes);
  }
}

function isPlainAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80 || b === ESC) return false;
  return true;
}

/** Bytes below 0x80 as text (windows-1252 is ASCII there, and TextDecoder takes any length). */
function ascii(bytes: Uint8Array): string {
  return decoderFor('windows-1252').decode(bytes);
}

/**
 * A text value's bytes as a string: every value of a multi-valued element, `\` between them, and in
 * PN every component group, `=` between them (so split the result). Padding is kept; trim it as the VR
 * says. `issues` collects what had to be decoded leniently.
 */
export function decodeText(
  bytes: Uint8Array,
  cs: CharacterSet,
  vr: TextVr,
  issues?: Set<CharsetIssue>,
): string {
  if (cs.standAlone) return decodeStandAlone(bytes, cs.standAlone, issues);
  if (isPlainAscii(bytes)) return ascii(bytes);
  const isPn = vr === 'PN';
  const multi = !SINGLE_VALUED.has(vr);
  const out = new Output(issues);
  const delimiter = (c: number) => (c === BACKSLASH && multi) || (isPn && (c === CARET || c === EQUALS));
  let g0 = cs.initialG0;
  let g1 = cs.initialG1;
  /** The last G1 an escape designated in this value, for GR bytes a sender left without one. */
  let lastG1: GraphicSet | null = null;
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i] as number;
    if (b === ESC) {
      // ESC, intermediate bytes 0x20–0x2F, one final byte 0x30–0x7E (ISO 2022 6.3).
      let j = i + 1;
      while (j < n && (bytes[j] as number) >= 0x20 && (bytes[j] as number) <= 0x2f) j++;
      const end = Math.min(j + 1, n);
      const seq = String.fromCharCode(...bytes.subarray(i + 1, end));
      const d = designation(seq);
      if (!d) out.flag('unknown-escape');
      else {
        if (!cs.declared.has(d.set)) out.flag('undeclared-escape');
        if (d.g === 0) g0 = d.set;
        else {
          g1 = d.set;
          lastG1 = d.set;
        }
      }
      i = end;
      continue;
    }
    if (b < 0x20 || b === 0x7f) {
      if (CONTROL_RESETS.has(b)) {
        g0 = cs.initialG0;
        g1 = cs.initialG1;
      }
      out.text(String.fromCharCode(b));
      i++;
      continue;
    }
    if (b < 0x80) {
      if (TWO_BYTE.has(g0)) {
        // SPACE stays one byte in a 94×94 set (ISO 2022 6.3.1).
        if (b === 0x20) {
          out.text(' ');
          i++;
          continue;
        }
        const b2 = bytes[i + 1];
        if (b2 !== undefined && b2 >= 0x21 && b2 <= 0x7e) {
          out.pair(g0, b, b2);
          i += 2;
        } else {
          out.flag('invalid-bytes');
          out.text(REPLACEMENT);
          i++;
        }
        continue;
      }
      // In a single-byte G0 set the delimiters are unambiguous: the sets of value 1 apply again.
      if (delimiter(b)) {
        g0 = cs.initialG0;
        g1 = cs.initialG1;
        out.text(String.fromCharCode(b));
        i++;
        continue;
      }
      let j = i + 1;
      while (
        j < n &&
        (bytes[j] as number) >= 0x20 &&
        (bytes[j] as number) < 0x7f &&
        !delimiter(bytes[j] as number)
      )
        j++;
      out.text(ascii(bytes.subarray(i, j)));
      i = j;
      continue;
    }
    // GR bytes after a delimiter reset G1 to none: a sender that designated KS X 1001 once for the
    // whole name (`ESC$)C김^희중`) meant it for the rest too; without any, read ISO 8859-1 as pydicom does.
    const set = g1 ?? lastG1;
    if (g1 === null) out.flag('bytes-outside-charset');
    if (set === null) {
      out.text(String.fromCharCode(b));
      i++;
    } else if (TWO_BYTE.has(set)) {
      const b2 = bytes[i + 1];
      if (b >= 0xa1 && b <= 0xfe && b2 !== undefined && b2 >= 0xa1 && b2 <= 0xfe) {
        out.pair(set, b & 0x7f, b2 & 0x7f);
        i += 2;
      } else {
        out.flag('invalid-bytes');
        out.text(REPLACEMENT);
        i++;
      }
    } else {
      const c = upperHalf(set)[b - 0x80] as string;
      if (c === REPLACEMENT) out.flag('invalid-bytes');
      out.text(c);
      i++;
    }
  }
  return out.done();
}

/** A decoded value split into its values (`\`); ST, LT and UT hold one value. */
export function textValues(decoded: string, vr: TextVr): string[] {
  return SINGLE_VALUED.has(vr) ? [decoded] : decoded.split('\\');
}
