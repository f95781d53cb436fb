export const TS = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  DeflatedExplicitVRLittleEndian: '1.2.840.10008.1.2.1.99',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
} as const;

/** Transfer syntaxes whose pixel data is already compressed, so general compression does not pay. */
export function isEncapsulated(ts: string): boolean {
  return !(
    ts === TS.ImplicitVRLittleEndian ||
    ts === TS.ExplicitVRLittleEndian ||
    ts === TS.ExplicitVRBigEndian ||
    ts === TS.DeflatedExplicitVRLittleEndian
  );
}

/**
 * Uncompressed native encodings, the only ones general-purpose compression pays on: encapsulated
 * pixel data is already compressed, and a deflated dataset is already deflate-compressed.
 */
export function isNativeUncompressed(ts: string): boolean {
  return (
    ts === TS.ImplicitVRLittleEndian || ts === TS.ExplicitVRLittleEndian || ts === TS.ExplicitVRBigEndian
  );
}
