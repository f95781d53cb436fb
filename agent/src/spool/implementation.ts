/**
 * Ferry's DICOM implementation identity: in every spooled object's File Meta Information, and
 * announced in every association (dimse/ takes it from here, the floor below it).
 */
// A UUID-derived UID (ISO/IEC 9834-8, root 2.25): ours without registering a root.
export const IMPLEMENTATION_CLASS_UID = '2.25.262566489684319077226500909858956756593';
export const IMPLEMENTATION_VERSION = 'FERRY_010';
