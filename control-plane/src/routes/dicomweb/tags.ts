/**
 * The DICOM attributes DICOMweb answers about, by keyword and tag (PS3.6). Only what QIDO matches on
 * or returns, and what `includefield` may name by keyword; any other attribute can be named by tag.
 */
export const TAGS = {
  SpecificCharacterSet: '00080005',
  ImageType: '00080008',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  SeriesDate: '00080021',
  ContentDate: '00080023',
  StudyTime: '00080030',
  SeriesTime: '00080031',
  ContentTime: '00080033',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  Manufacturer: '00080070',
  InstitutionName: '00080080',
  ReferringPhysicianName: '00080090',
  TimezoneOffsetFromUTC: '00080201',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  ManufacturerModelName: '00081090',
  RetrieveURL: '00081190',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  PatientAge: '00101010',
  PatientSize: '00101020',
  PatientWeight: '00101030',
  BodyPartExamined: '00180015',
  SliceThickness: '00180050',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  FrameOfReferenceUID: '00200052',
  Laterality: '00200060',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  SamplesPerPixel: '00280002',
  PhotometricInterpretation: '00280004',
  PlanarConfiguration: '00280006',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  BitsAllocated: '00280100',
  BitsStored: '00280101',
  HighBit: '00280102',
  PixelRepresentation: '00280103',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
  PerformedProcedureStepStartDate: '00400244',
  PerformedProcedureStepStartTime: '00400245',
  AvailableTransferSyntaxUID: '00083002',
} as const;

export type Keyword = keyof typeof TAGS;
export type Tag = string;

const TAG_RE = /^[0-9A-Fa-f]{8}$/;

/** The tag (8 upper-case hex digits) a keyword or tag names, or undefined. */
export function tagOf(keywordOrTag: string): Tag | undefined {
  if (TAG_RE.test(keywordOrTag)) return keywordOrTag.toUpperCase();
  return Object.hasOwn(TAGS, keywordOrTag) ? TAGS[keywordOrTag as Keyword] : undefined;
}

/** Study-level attributes every QIDO study result carries (PS3.18 table 10.6.3-3), RetrieveURL included. */
export const STUDY_RESULT_TAGS: readonly Tag[] = [
  TAGS.SpecificCharacterSet,
  TAGS.StudyDate,
  TAGS.StudyTime,
  TAGS.AccessionNumber,
  TAGS.ModalitiesInStudy,
  TAGS.ReferringPhysicianName,
  TAGS.StudyDescription,
  TAGS.RetrieveURL,
  TAGS.PatientName,
  TAGS.PatientID,
  TAGS.PatientBirthDate,
  TAGS.PatientSex,
  TAGS.StudyInstanceUID,
  TAGS.NumberOfStudyRelatedSeries,
  TAGS.NumberOfStudyRelatedInstances,
];

/** What `includefield=all` adds at study level, read from one instance of the study. */
export const STUDY_EXTRA_TAGS: readonly Tag[] = [
  TAGS.StudyID,
  TAGS.PatientAge,
  TAGS.PatientSize,
  TAGS.PatientWeight,
  TAGS.InstitutionName,
  TAGS.TimezoneOffsetFromUTC,
];

/** What `includefield=all` adds at series level, read from one instance of the series. */
export const SERIES_EXTRA_TAGS: readonly Tag[] = [
  TAGS.SeriesDate,
  TAGS.SeriesTime,
  TAGS.BodyPartExamined,
  TAGS.Laterality,
  TAGS.Manufacturer,
  TAGS.ManufacturerModelName,
  TAGS.FrameOfReferenceUID,
  TAGS.PerformedProcedureStepStartDate,
  TAGS.PerformedProcedureStepStartTime,
];

/** Image Pixel module attributes an instance result carries when its header has them. */
export const INSTANCE_PIXEL_TAGS: readonly Tag[] = [
  TAGS.SamplesPerPixel,
  TAGS.PhotometricInterpretation,
  TAGS.PlanarConfiguration,
  TAGS.Rows,
  TAGS.Columns,
  TAGS.BitsAllocated,
  TAGS.BitsStored,
  TAGS.HighBit,
  TAGS.PixelRepresentation,
];
