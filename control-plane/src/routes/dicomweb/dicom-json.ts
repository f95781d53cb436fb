/**
 * Building DICOM JSON (PS3.18 F.2) answers: elements from index columns, and the QIDO-RS study,
 * series and instance results.
 */

import {
  BULK_DATA_PATH,
  type DicomJson,
  type DicomJsonElement,
  PIXEL_DATA,
  personNameJson,
  pixelDataPlaceholder,
} from '../../dicom/dicom-json.js';
import type { StudySummary } from '../../services/list-studies.js';
import type { InstanceMatch } from '../../services/search-instances.js';
import type { SeriesMatch } from '../../services/search-series.js';
import {
  INSTANCE_PIXEL_TAGS,
  SERIES_EXTRA_TAGS,
  STUDY_EXTRA_TAGS,
  STUDY_RESULT_TAGS,
  TAGS,
  type Tag,
} from './tags.js';

/** TS of the JSON answers' strings: UTF-8 (ISO_IR 192). */
const UTF8 = 'ISO_IR 192';

function text(vr: string, value: string | null | undefined): DicomJsonElement {
  return value ? { vr, Value: [value] } : { vr };
}

function texts(vr: string, values: readonly string[]): DicomJsonElement {
  return values.length > 0 ? { vr, Value: [...values] } : { vr };
}

/** From an index column, which keeps every component group (`Alphabetic=Ideographic=Phonetic`). */
function personName(value: string | null | undefined): DicomJsonElement {
  const json = value ? personNameJson(value) : null;
  return json ? { vr: 'PN', Value: [json] } : { vr: 'PN' };
}

function integer(vr: string, value: number | string | null | undefined): DicomJsonElement {
  const n = typeof value === 'string' && /^ *-?\d{1,9} *$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) ? { vr, Value: [n] } : { vr };
}

/** The dataset with its attributes in tag order, as PS3.18 F.2 writes them. */
export function sorted(dataset: DicomJson): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(dataset).sort()) out[tag] = dataset[tag]!;
  return out;
}

/** `tags` of `source` that are present (the rest are left out). */
function pick(source: DicomJson | undefined, tags: Iterable<Tag>): DicomJson {
  const out: DicomJson = {};
  if (!source) return out;
  for (const tag of tags) {
    const el = source[tag];
    if (el) out[tag] = el;
  }
  return out;
}

/** Header attributes for `includefield`: the level's extras for `all`, or the tags asked for. */
function included(
  metadata: DicomJson | undefined,
  include: 'all' | ReadonlySet<Tag>,
  allTags: readonly Tag[],
): DicomJson {
  return pick(metadata, include === 'all' ? allTags : include);
}

export interface ResultUrls {
  /** Base of RetrieveURL: the public URL of this DICOMweb service (…/dicomweb). */
  base: string;
}

export function studyUrl(urls: ResultUrls, studyUid: string): string {
  return `${urls.base}/studies/${encodeURIComponent(studyUid)}`;
}

export function instanceUrl(urls: ResultUrls, studyUid: string, seriesUid: string, sopUid: string): string {
  return `${studyUrl(urls, studyUid)}/series/${encodeURIComponent(seriesUid)}/instances/${encodeURIComponent(sopUid)}`;
}

/**
 * The dataset with each bulk data element (a stored placeholder) given to `bulk`, also in sequences:
 * it returns the element to answer, or undefined to leave it out.
 */
function mapBulkData(
  dataset: DicomJson,
  bulk: (el: DicomJsonElement & { BulkDataURI: string }) => DicomJsonElement | undefined,
): DicomJson {
  const out: DicomJson = {};
  for (const [tag, el] of Object.entries(dataset)) {
    if (!el || typeof el !== 'object') continue;
    if (typeof el.BulkDataURI === 'string') {
      const mapped = bulk(el as DicomJsonElement & { BulkDataURI: string });
      if (mapped) out[tag] = mapped;
    } else if (el.vr === 'SQ' && Array.isArray(el.Value)) {
      out[tag] = {
        ...el,
        Value: el.Value.map((item) =>
          item && typeof item === 'object' ? mapBulkData(item as DicomJson, bulk) : item,
        ),
      };
    } else out[tag] = el;
  }
  return out;
}

export function studyResult(
  s: StudySummary,
  metadata: DicomJson | undefined,
  include: 'all' | ReadonlySet<Tag>,
  urls: ResultUrls,
): DicomJson {
  const own: DicomJson = {
    [TAGS.SpecificCharacterSet]: text('CS', UTF8),
    [TAGS.StudyDate]: text('DA', s.studyDate),
    [TAGS.StudyTime]: text('TM', s.studyTime),
    [TAGS.AccessionNumber]: text('SH', s.accessionNumber),
    [TAGS.ModalitiesInStudy]: texts('CS', s.modalities),
    [TAGS.ReferringPhysicianName]: personName(s.referringPhysician),
    [TAGS.StudyDescription]: text('LO', s.description),
    [TAGS.RetrieveURL]: text('UR', studyUrl(urls, s.studyInstanceUid)),
    [TAGS.PatientName]: personName(s.patientName),
    [TAGS.PatientID]: text('LO', s.patientId),
    [TAGS.PatientBirthDate]: text('DA', s.patientBirthDate),
    [TAGS.PatientSex]: text('CS', s.patientSex),
    [TAGS.StudyInstanceUID]: text('UI', s.studyInstanceUid),
    [TAGS.NumberOfStudyRelatedSeries]: integer('IS', s.seriesCount),
    [TAGS.NumberOfStudyRelatedInstances]: integer('IS', s.instanceCount),
  };
  // Index columns win over one instance's header; the header adds what has no column.
  const extra = included(metadata, include, STUDY_EXTRA_TAGS);
  for (const tag of STUDY_RESULT_TAGS) delete extra[tag];
  return sorted({ ...extra, ...own });
}

export function seriesResult(s: SeriesMatch, include: 'all' | ReadonlySet<Tag>, urls: ResultUrls): DicomJson {
  const own: DicomJson = {
    [TAGS.SpecificCharacterSet]: text('CS', UTF8),
    [TAGS.Modality]: text('CS', s.modality),
    [TAGS.SeriesDescription]: text('LO', s.description),
    [TAGS.RetrieveURL]: text(
      'UR',
      `${studyUrl(urls, s.studyInstanceUid)}/series/${encodeURIComponent(s.seriesInstanceUid)}`,
    ),
    [TAGS.StudyInstanceUID]: text('UI', s.studyInstanceUid),
    [TAGS.SeriesInstanceUID]: text('UI', s.seriesInstanceUid),
    [TAGS.SeriesNumber]: integer('IS', s.seriesNumber),
    [TAGS.NumberOfSeriesRelatedInstances]: integer('IS', s.instanceCount),
  };
  return sorted({ ...included(s.metadata, include, SERIES_EXTRA_TAGS), ...own });
}

/** The header tags an instance result needs from the database for `include`. */
export function instanceMetadataTags(include: 'all' | ReadonlySet<Tag>): 'all' | Tag[] {
  return include === 'all' ? 'all' : [...new Set([...INSTANCE_PIXEL_TAGS, ...include])];
}

export function instanceResult(
  i: InstanceMatch,
  include: 'all' | ReadonlySet<Tag>,
  urls: ResultUrls,
): DicomJson {
  const own: DicomJson = {
    [TAGS.SpecificCharacterSet]: text('CS', UTF8),
    [TAGS.SOPClassUID]: text('UI', i.sopClassUid),
    [TAGS.SOPInstanceUID]: text('UI', i.sopInstanceUid),
    [TAGS.Modality]: text('CS', i.modality),
    [TAGS.RetrieveURL]: text(
      'UR',
      instanceUrl(urls, i.studyInstanceUid, i.seriesInstanceUid, i.sopInstanceUid),
    ),
    [TAGS.StudyInstanceUID]: text('UI', i.studyInstanceUid),
    [TAGS.SeriesInstanceUID]: text('UI', i.seriesInstanceUid),
    [TAGS.SeriesNumber]: integer('IS', i.seriesNumber),
    [TAGS.InstanceNumber]: integer('IS', i.instanceNumber),
    [TAGS.NumberOfFrames]: integer('IS', i.numberOfFrames),
    // How the instance is stored, and so retrieved (no transcoding here).
    [TAGS.AvailableTransferSyntaxUID]: text('UI', i.transferSyntaxUid),
  };
  // Searches answer attributes, not bulk data: /metadata has the URLs of those.
  const fromHeader = mapBulkData(
    include === 'all' ? i.metadata : pick(i.metadata, [...INSTANCE_PIXEL_TAGS, ...include]),
    () => undefined,
  );
  return sorted({ ...fromHeader, ...own });
}

/**
 * A stored header as WADO-RS /metadata returns it: the header as received, plus the transfer syntax
 * it is stored in, with every bulk data value (binaries above the inline size, Pixel Data) as a
 * BulkDataURI under `instanceUrl`/bulkdata/. Headers stored before ingest kept placeholders still get
 * the Pixel Data's (an image has Rows).
 */
export function metadataResult(
  metadata: DicomJson,
  transferSyntaxUid: string,
  instanceUrl: string,
): DicomJson {
  const out = mapBulkData(metadata, (el) =>
    BULK_DATA_PATH.test(el.BulkDataURI)
      ? { vr: el.vr, BulkDataURI: `${instanceUrl}/bulkdata/${el.BulkDataURI}` }
      : undefined,
  );
  if (!out[PIXEL_DATA] && metadata[TAGS.Rows]) {
    const px = pixelDataPlaceholder(transferSyntaxUid);
    out[PIXEL_DATA] = { vr: px.vr, BulkDataURI: `${instanceUrl}/bulkdata/${PIXEL_DATA}` };
  }
  out[TAGS.AvailableTransferSyntaxUID] = text('UI', transferSyntaxUid);
  return sorted(out);
}
