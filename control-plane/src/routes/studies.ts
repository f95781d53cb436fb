import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import { streamBody } from '../edge/stream-body.js';
import type { AppEnv } from '../edge/types.js';
import { downloadStudy } from '../services/download-study.js';
import { getStudy, type InstanceVersion } from '../services/get-study.js';
import {
  listStudies,
  STUDY_PAGE_DEFAULT,
  STUDY_PAGE_MAX,
  type StudySummary,
  studyListStatuses,
  studySorts,
} from '../services/list-studies.js';
import { studyArchiveStream } from '../services/open-study-objects.js';
import { json } from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const isoTime = z.iso.datetime({ offset: true });

/** A study date filter: DICOM (YYYYMMDD) or ISO (YYYY-MM-DD), passed on as YYYYMMDD. */
const studyDateSchema = z
  .string()
  .regex(/^\d{4}-?\d{2}-?\d{2}$/, 'a date as YYYYMMDD or YYYY-MM-DD')
  .transform((s) => s.replaceAll('-', ''))
  .refine((s) => {
    const m = Number(s.slice(4, 6));
    const d = Number(s.slice(6, 8));
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
  }, 'not a calendar date')
  .openapi({ example: '20240131' });

const studyUidParamSchema = z.object({
  studyUid: z
    .string()
    .regex(/^[0-9A-Za-z.-]{1,64}$/, 'a Study Instance UID (digits and dots, at most 64)')
    .openapi({ param: { name: 'studyUid', in: 'path' }, example: '1.2.840.113619.2.55.3.2831164355.123' }),
});

const studySummarySchema = z
  .object({
    id: z.uuid(),
    studyInstanceUid: z.string(),
    patient: z.object({
      name: z.string().nullable().openapi({ description: 'DICOM PN as received, e.g. DOE^JANE' }),
      id: z.string().nullable(),
      birthDate: z.string().nullable().openapi({ description: 'DICOM DA, YYYYMMDD' }),
      sex: z.string().nullable(),
    }),
    studyDate: z.string().nullable().openapi({ description: 'DICOM DA, YYYYMMDD' }),
    studyTime: z.string().nullable(),
    description: z.string().nullable(),
    accessionNumber: z.string().nullable(),
    referringPhysician: z.string().nullable(),
    modalities: z.array(z.string()),
    facility: z.object({ id: z.uuid(), name: z.string() }),
    seriesCount: z.number().int(),
    instanceCount: z.number().int().openapi({ description: 'Current instances' }),
    status: z.enum(['receiving', 'complete']),
    updated: z.boolean().openapi({
      description: 'An instance arrived after the study was complete, or replaced an earlier version',
    }),
    receivedAt: z
      .object({ first: isoTime, last: isoTime })
      .openapi({ description: 'When the gateway received its first and latest instance' }),
    storedAt: z
      .object({ first: isoTime, last: isoTime })
      .openapi({ description: 'When the control plane stored its first and latest instance' }),
    completedAt: isoTime.nullable(),
  })
  .openapi('StudySummary');

function studySummaryDto(s: StudySummary): z.infer<typeof studySummarySchema> {
  return {
    id: s.id,
    studyInstanceUid: s.studyInstanceUid,
    patient: { name: s.patientName, id: s.patientId, birthDate: s.patientBirthDate, sex: s.patientSex },
    studyDate: s.studyDate,
    studyTime: s.studyTime,
    description: s.description,
    accessionNumber: s.accessionNumber,
    referringPhysician: s.referringPhysician,
    modalities: s.modalities,
    facility: { id: s.facilityId, name: s.facilityName },
    seriesCount: s.seriesCount,
    instanceCount: s.instanceCount,
    status: s.status,
    updated: s.updated,
    receivedAt: { first: s.firstReceivedAt.toISOString(), last: s.lastReceivedAt.toISOString() },
    storedAt: { first: s.firstStoredAt.toISOString(), last: s.lastStoredAt.toISOString() },
    completedAt: s.completedAt?.toISOString() ?? null,
  };
}

const versionSchema = z
  .object({
    version: z.number().int(),
    current: z.boolean(),
    objectId: z.string(),
    plainBytes: z.number().int().openapi({ description: 'Size of the Part-10 file' }),
    objectBytes: z.number().int().openapi({ description: 'Size of the sealed object as stored' }),
    sha256: z.string().openapi({ description: 'SHA-256 of the Part-10 file' }),
    objectSha256: z.string().openapi({ description: 'SHA-256 of the sealed object' }),
    transferSyntaxUid: z.string(),
    callingAeTitle: z.string(),
    receivedAt: isoTime,
    storedAt: isoTime,
  })
  .openapi('InstanceVersion');

function versionDto(v: InstanceVersion): z.infer<typeof versionSchema> {
  return { ...v, receivedAt: v.receivedAt.toISOString(), storedAt: v.storedAt.toISOString() };
}

const studyDetailSchema = studySummarySchema
  .extend({
    series: z.array(
      z.object({
        seriesInstanceUid: z.string(),
        modality: z.string().nullable(),
        seriesNumber: z.string().nullable(),
        description: z.string().nullable(),
        instanceCount: z.number().int().openapi({ description: 'Current instances' }),
        instances: z.array(
          z.object({
            sopInstanceUid: z.string(),
            sopClassUid: z.string(),
            instanceNumber: z.number().int().nullable(),
            numberOfFrames: z.number().int().nullable(),
            versions: z
              .array(versionSchema)
              .openapi({ description: 'Stored versions, newest first; the current one has current: true' }),
          }),
        ),
      }),
    ),
    timeline: z.object({
      receivedAt: z.object({ first: isoTime, last: isoTime }),
      storedAt: z.object({ first: isoTime, last: isoTime }),
      completedAt: isoTime.nullable(),
      events: z.array(
        z.object({
          kind: z.string().openapi({ example: 'created' }),
          at: isoTime,
          detail: z.record(z.string(), z.unknown()),
        }),
      ),
    }),
  })
  .openapi('StudyDetail');

const listStudiesRoute = createRoute({
  method: 'get',
  path: '/api/v1/studies',
  tags: ['studies'],
  summary: "The group's worklist: studies, filtered, sorted and paged",
  middleware: [authenticate('user')] as const,
  request: {
    query: z.object({
      facilityId: z.uuid().optional(),
      modality: z
        .string()
        .regex(/^[A-Za-z0-9_]{1,16}$/)
        .optional()
        .openapi({ example: 'CT' }),
      dateFrom: studyDateSchema.optional().openapi({ description: 'Study date from (inclusive)' }),
      dateTo: studyDateSchema.optional().openapi({ description: 'Study date to (inclusive)' }),
      status: z
        .enum(studyListStatuses)
        .optional()
        .openapi({ description: '`updated`: studies with the updated flag, whatever their status' }),
      q: z.string().max(128).optional().openapi({
        description:
          'Start of the patient name (or of any word or component group of it: alphabetic, ideographic, phonetic) or of the patient id; case and accents ignored',
        example: 'doe',
      }),
      sort: z
        .enum(studySorts)
        .optional()
        .openapi({ description: 'Default receivedAt (the latest received)' }),
      order: z
        .enum(['asc', 'desc'])
        .optional()
        .openapi({ description: 'Default desc for receivedAt and studyDate, asc for patientName' }),
      cursor: z
        .string()
        .max(2048)
        .optional()
        .openapi({ description: 'The previous page nextCursor (same sort and order)' }),
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(STUDY_PAGE_MAX)
        .optional()
        .openapi({ description: `Page size (default ${STUDY_PAGE_DEFAULT})` }),
    }),
  },
  responses: {
    200: {
      description: 'One page of studies',
      content: json(
        z.object({
          studies: z.array(studySummarySchema),
          nextCursor: z.string().nullable().openapi({ description: 'Pass as cursor= for the next page' }),
        }),
      ),
    },
    ...errorResponses(400, 401, 403),
  },
});

const getStudyRoute = createRoute({
  method: 'get',
  path: '/api/v1/studies/{studyUid}',
  tags: ['studies'],
  summary: 'One study: its series, instances with their versions, and its timeline',
  middleware: [authenticate('user')] as const,
  request: { params: studyUidParamSchema },
  responses: {
    200: { description: 'The study', content: json(studyDetailSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const downloadStudyRoute = createRoute({
  method: 'get',
  path: '/api/v1/studies/{studyUid}/download',
  tags: ['studies'],
  summary: "A zip of the study's current instances as Part-10 files",
  description:
    'Streamed (store mode, zip64 when large): `<series number or UID>/<instance number or UID>.dcm`. ' +
    'A failure midway aborts the transfer rather than ending a short archive. Audited as study.download.',
  middleware: [authenticate('user')] as const,
  request: { params: studyUidParamSchema },
  responses: {
    200: {
      description: 'The archive',
      content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export function registerStudies(app: OpenAPIHono<AppEnv>): void {
  app.openapi(listStudiesRoute, async (c) => {
    const { studies, nextCursor } = await listStudies({ ctx: ctxOf(c), input: c.req.valid('query') });
    return c.json({ studies: studies.map(studySummaryDto), nextCursor }, 200);
  });

  app.openapi(getStudyRoute, async (c) => {
    const { study, series, events } = await getStudy({ ctx: ctxOf(c), input: c.req.valid('param') });
    const summary = studySummaryDto(study);
    return c.json(
      {
        ...summary,
        series: series.map((s) => ({
          ...s,
          instances: s.instances.map((i) => ({ ...i, versions: i.versions.map(versionDto) })),
        })),
        timeline: {
          receivedAt: summary.receivedAt,
          storedAt: summary.storedAt,
          completedAt: summary.completedAt,
          events: events.map((e) => ({ kind: e.kind, at: e.at.toISOString(), detail: e.detail })),
        },
      },
      200,
    );
  });

  app.openapi(downloadStudyRoute, async (c) => {
    const ctx = ctxOf(c);
    const plan = await downloadStudy({ ctx, input: c.req.valid('param') });
    const body = streamBody(studyArchiveStream(c.get('deps'), plan), (err) =>
      ctx.log.error(
        { err, studyInstanceUid: plan.studyInstanceUid },
        'study download failed midway; aborted',
      ),
    );
    return c.body(body, 200, {
      'content-type': 'application/zip',
      'content-disposition': `attachment; filename="${plan.filename}"`,
      'cache-control': 'no-store',
    });
  });
}
