/** Value representations and delimiters of the DICOM encoding (PS3.5 7.1, 7.5) that every reader here needs. */

/** VRs whose values are bytes rather than text or numbers: sent as InlineBinary or BulkDataURI. */
export const BINARY_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2). */
export const LONG_LENGTH_VRS: ReadonlySet<string> = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);

/** The length of a sequence, item or encapsulated Pixel Data that ends with a delimiter. */
export const UNDEFINED_LENGTH = 0xffffffff;
/** (FFFE,E000) Item, (FFFE,E00D) Item Delimitation, (FFFE,E0DD) Sequence Delimitation. */
export const ITEM_TAG = 0xfffee000;
export const ITEM_END_TAG = 0xfffee00d;
export const SEQUENCE_END_TAG = 0xfffee0dd;
