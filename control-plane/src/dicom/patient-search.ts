/**
 * The search form of a patient name or id (studies.patient_name_search / patient_id_search): lower
 * case, accents stripped, DICOM component separators (`^`) and repeated spaces folded to one space;
 * component groups keep their `=`, and the result is NFC, so Hangul stays syllables and `?` matches
 * one of them. Apply the same function to what a user types, then match by prefix.
 *
 *   patientSearchKey('MÜLLER^Zoë^^^') === 'muller zoe'
 *   patientSearchKey('Hong^Gildong=洪^吉洞=홍^길동') === 'hong gildong=洪 吉洞=홍 길동'
 */
export function patientSearchKey(value: string | null | undefined): string {
  if (!value) return '';
  // `^` first: it is itself in \p{Diacritic} (CIRCUMFLEX ACCENT), as is the grave accent.
  return value
    .replace(/\^/g, ' ')
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/ ?= ?/g, '=')
    .trim()
    .normalize('NFC');
}
