/**
 * The one source of the index's fields for an instance (study, series and instance rows, so the
 * worklist and QIDO): the header the control plane parsed itself from the bytes it verified (its DICOM
 * JSON, stored as the instance's `metadata`). The agent's manifest is a claim about those bytes; it
 * adds only what the header cannot say (when and from which AE the gateway received it, over which
 * transfer syntax) and is otherwise a cross-check (verify-object.ts).
 */
import { FerryError, type InstanceManifest } from '@ferry/shared';
import { type DicomJson, firstPersonName, firstString } from '../dicom/dicom-json.js';

export interface InstanceFields {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  numberOfFrames: number | null;
  patient: { name?: string; id?: string; birthDate?: string; sex?: string };
  study: {
    date?: string;
    time?: string;
    description?: string;
    accessionNumber?: string;
    referringPhysician?: string;
  };
  series: { modality: string | null; number: string | null; description: string | null };
}

/** What the gateway knew of the instance's arrival, from the manifest. */
export interface Reception {
  receivedAt: Date;
  callingAeTitle: string;
  transferSyntaxUid: string;
}

function intOrNull(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= -2147483648 && n <= 2147483647 ? n : null;
}

function invalid(message: string): FerryError {
  return new FerryError('upload.object_invalid', message);
}

/**
 * The index's fields from a parsed header. Throws `upload.object_invalid` when the instance cannot be
 * indexed (no Study, Series or SOP Instance UID).
 */
export function instanceFieldsOf(header: DicomJson): InstanceFields {
  const s = (tag: string) => firstString(header, tag);
  const sopInstanceUid = s('00080018');
  const studyUid = s('0020000D');
  const seriesUid = s('0020000E');
  if (!sopInstanceUid) throw invalid('the instance has no SOP Instance UID');
  if (!studyUid) throw invalid(`instance ${sopInstanceUid} has no Study Instance UID`);
  if (!seriesUid) throw invalid(`instance ${sopInstanceUid} has no Series Instance UID`);
  return {
    studyUid,
    seriesUid,
    sopInstanceUid,
    sopClassUid: s('00080016') ?? '',
    instanceNumber: intOrNull(s('00200013')),
    numberOfFrames: intOrNull(s('00280008')),
    patient: {
      name: firstPersonName(header, '00100010'),
      id: s('00100020'),
      birthDate: s('00100030'),
      sex: s('00100040'),
    },
    study: {
      date: s('00080020'),
      time: s('00080030'),
      description: s('00081030'),
      accessionNumber: s('00080050'),
      referringPhysician: firstPersonName(header, '00080090'),
    },
    series: {
      modality: s('00080060') ?? null,
      number: s('00200011') ?? null,
      description: s('0008103E') ?? null,
    },
  };
}

/** The reception facts of a manifest; an unreadable receive time falls back to `storedAt`. */
export function receptionOf(manifest: InstanceManifest, storedAt: Date): Reception {
  const receivedAt = new Date(manifest.receivedAt);
  return {
    receivedAt: Number.isNaN(receivedAt.getTime()) ? storedAt : receivedAt,
    callingAeTitle: manifest.callingAeTitle,
    transferSyntaxUid: manifest.transferSyntaxUid,
  };
}
