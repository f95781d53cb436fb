/**
 * Specific Character Set (0008,0005) terms and the graphic sets they stand for (PS3.3 C.12.1.1.2,
 * Tables C.12-2 to C.12-5). A parsed value says which set is in G0 and G1 at the start of every
 * value and after each delimiter (PS3.5 6.1.2.5.3), and which escape sequences the data may use.
 */

/** A graphic character set as it can sit in G0 (GL bytes) or G1 (GR bytes). */
export type GraphicSet =
  | 'ascii'
  | 'jis-x0201-romaji'
  | 'jis-x0208'
  | 'jis-x0212'
  | 'jis-x0201-katakana'
  | 'ks-x1001'
  | 'gb2312'
  | 'latin1'
  | 'iso-8859-2'
  | 'iso-8859-3'
  | 'iso-8859-4'
  | 'iso-8859-5'
  | 'iso-8859-6'
  | 'iso-8859-7'
  | 'iso-8859-8'
  | 'iso-8859-9'
  | 'tis-620';

/** Encodings that allow no code extensions: the whole value is decoded as one (PS3.5 6.1.2.5.4 d). */
export type StandAloneEncoding = 'utf-8' | 'gb18030' | 'gbk' | 'shift_jis';

/** Something about a value or its character set that was decoded leniently (never fatal). */
export type CharsetIssue =
  | 'unknown-term'
  | 'misspelled-term'
  | 'ignored-extension'
  | 'unknown-escape'
  | 'undeclared-escape'
  | 'invalid-bytes'
  | 'bytes-outside-charset';

export interface CharacterSet {
  /** The terms as the dataset gives them (trimmed). */
  readonly terms: readonly string[];
  /** Set when value 1 is UTF-8, GB18030, GBK or ISO_IR 13: no escapes, one decoder for the value. */
  readonly standAlone: StandAloneEncoding | null;
  readonly initialG0: GraphicSet;
  readonly initialG1: GraphicSet | null;
  /** Sets the terms declare, so an escape to any other set can be flagged. */
  readonly declared: ReadonlySet<GraphicSet>;
  /** What was wrong with the terms themselves. */
  readonly issues: readonly CharsetIssue[];
}

interface TermMeaning {
  g0?: GraphicSet;
  g1?: GraphicSet;
  standAlone?: StandAloneEncoding;
}

const SINGLE_BYTE: Record<string, GraphicSet> = {
  '100': 'latin1',
  '101': 'iso-8859-2',
  '109': 'iso-8859-3',
  '110': 'iso-8859-4',
  '144': 'iso-8859-5',
  '127': 'iso-8859-6',
  '126': 'iso-8859-7',
  '138': 'iso-8859-8',
  '148': 'iso-8859-9',
  '166': 'tis-620',
};

/** Keyed by the canonical spelling; `meaningOf` also accepts common misspellings. */
const TERMS: ReadonlyMap<string, TermMeaning> = new Map<string, TermMeaning>([
  ['', { g0: 'ascii' }],
  ['ISO_IR 6', { g0: 'ascii' }],
  ['ISO 2022 IR 6', { g0: 'ascii' }],
  // ISO_IR 13 alone is JIS X 0201 without extensions; Japanese systems write Shift_JIS under it, and
  // pydicom reads it so, which keeps half-width katakana identical and their kanji readable.
  ['ISO_IR 13', { standAlone: 'shift_jis' }],
  ['ISO 2022 IR 13', { g0: 'jis-x0201-romaji', g1: 'jis-x0201-katakana' }],
  ['ISO 2022 IR 87', { g0: 'jis-x0208' }],
  ['ISO 2022 IR 159', { g0: 'jis-x0212' }],
  ['ISO 2022 IR 149', { g1: 'ks-x1001' }],
  ['ISO 2022 IR 58', { g1: 'gb2312' }],
  ['ISO 2022 58', { g1: 'gb2312' }],
  ['ISO_IR 192', { standAlone: 'utf-8' }],
  ['GB18030', { standAlone: 'gb18030' }],
  ['GBK', { standAlone: 'gbk' }],
  ['ISO 2022 GBK', { standAlone: 'gbk' }],
  ...Object.entries(SINGLE_BYTE).flatMap(([ir, set]): [string, TermMeaning][] => [
    [`ISO_IR ${ir}`, { g1: set }],
    [`ISO 2022 IR ${ir}`, { g1: set }],
  ]),
]);

/** `ISO IR 100`, `ISO-IR 100`, `iso_ir_100`, `ISO2022 IR 87` … → the canonical term, if any. */
function canonicalSpelling(term: string): string | undefined {
  const m = /^ISO[\s_-]*(2022)?[\s_-]*IR[\s_-]*(\d+)$/i.exec(term);
  if (m) return m[1] ? `ISO 2022 IR ${m[2]}` : `ISO_IR ${m[2]}`;
  const upper = term.toUpperCase().replace(/[\s_-]+/g, ' ');
  if (upper === 'GB18030' || upper === 'GBK' || upper === 'ISO 2022 GBK') return upper;
  return undefined;
}

function meaningOf(term: string, issues: Set<CharsetIssue>): TermMeaning | undefined {
  const exact = TERMS.get(term);
  if (exact) return exact;
  const fixed = canonicalSpelling(term);
  const meaning = fixed === undefined ? undefined : TERMS.get(fixed);
  issues.add(meaning ? 'misspelled-term' : 'unknown-term');
  return meaning;
}

/**
 * Parses the value of Specific Character Set: one string with `\` between values, or the values.
 * Unknown terms are flagged and stand for the default repertoire; a stand-alone encoding (UTF-8,
 * GB18030, GBK) after value 1 is ignored, and one in value 1 ignores the rest, as pydicom does.
 */
export function characterSetOf(value: string | readonly (string | null)[] | null | undefined): CharacterSet {
  const raw = typeof value === 'string' ? value.split('\\') : (value ?? []);
  const terms = raw.map((t) => (t ?? '').replace(/\0/g, '').trim());
  while (terms.length > 1 && terms.at(-1) === '') terms.pop();
  const issues = new Set<CharsetIssue>();
  const meanings = terms.map((t) => meaningOf(t, issues));
  // `ISO_IR 13` with code extensions after it can only mean ISO 2022 IR 13.
  if (terms.length > 1 && meanings[0]?.standAlone === 'shift_jis') {
    meanings[0] = TERMS.get('ISO 2022 IR 13');
    issues.add('misspelled-term');
  }
  const first = meanings[0];
  const declared = new Set<GraphicSet>(['ascii']);
  if (first?.standAlone) {
    if (terms.length > 1) issues.add('ignored-extension');
    return {
      terms,
      standAlone: first.standAlone,
      initialG0: 'ascii',
      initialG1: null,
      declared,
      issues: [...issues],
    };
  }
  for (const [i, m] of meanings.entries()) {
    if (!m) continue;
    if (m.standAlone) {
      if (i > 0) issues.add('ignored-extension');
      continue;
    }
    if (m.g0) declared.add(m.g0);
    if (m.g1) declared.add(m.g1);
  }
  // A multi-byte G0 set (JIS X 0208/0212) is reached by its escape; each value starts in ASCII.
  const g0 = first?.g0 === 'jis-x0201-romaji' ? 'jis-x0201-romaji' : 'ascii';
  return {
    terms,
    standAlone: null,
    initialG0: g0,
    initialG1: first?.g1 ?? null,
    declared,
    issues: [...issues],
  };
}

/** The default repertoire (no Specific Character Set). */
export const DEFAULT_CHARACTER_SET: CharacterSet = characterSetOf(undefined);
