/** DICOM UID (VR UI): 1-64 chars, dot-separated numeric components without leading zeros. */
const UID_RE = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;

export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && UID_RE.test(uid);
}

/** Strip the trailing NUL/space padding that UI values carry on the wire. */
export function trimUid(raw: string): string {
  return raw.replace(/[\0 ]+$/, '');
}
