import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { authenticate } from '../edge/auth-middleware.js';
import { ctxOf } from '../edge/context.js';
import type { AppEnv } from '../edge/types.js';
import { createFacility } from '../services/create-facility.js';
import { deleteFacility } from '../services/delete-facility.js';
import { getFacility } from '../services/get-facility.js';
import { listFacilities } from '../services/list-facilities.js';
import { updateFacility } from '../services/update-facility.js';
import {
  aeTitleAliasesBodySchema,
  aeTitleSchema,
  facilityDto,
  facilitySchema,
  gatewaySettingsBodySchema,
  idParamSchema,
  json,
  nameSchema,
  stablePeriodSecondsSchema,
} from './api-schemas.js';
import { errorResponses } from './openapi-common.js';

const createFacilityRoute = createRoute({
  method: 'post',
  path: '/api/v1/facilities',
  tags: ['facilities'],
  summary: 'Add a facility (admin)',
  middleware: [authenticate('user')] as const,
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({
            name: nameSchema,
            aeTitle: aeTitleSchema,
            stablePeriodSeconds: stablePeriodSecondsSchema.optional(),
            gateway: gatewaySettingsBodySchema.nullable().optional(),
          })
          .strict(),
      ),
    },
  },
  responses: {
    201: { description: 'Created', content: json(facilitySchema) },
    ...errorResponses(400, 401, 403, 409, 413, 415),
  },
});

const listFacilitiesRoute = createRoute({
  method: 'get',
  path: '/api/v1/facilities',
  tags: ['facilities'],
  summary: "The group's facilities",
  middleware: [authenticate('user')] as const,
  responses: {
    200: {
      description: 'Facilities by name',
      content: json(z.object({ facilities: z.array(facilitySchema) })),
    },
    ...errorResponses(401, 403),
  },
});

const getFacilityRoute = createRoute({
  method: 'get',
  path: '/api/v1/facilities/{id}',
  tags: ['facilities'],
  summary: 'One facility',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    200: { description: 'The facility', content: json(facilitySchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

const updateFacilityRoute = createRoute({
  method: 'patch',
  path: '/api/v1/facilities/{id}',
  tags: ['facilities'],
  summary: 'Rename a facility, change its AE title, stable period or gateway settings (admin)',
  description:
    '`aeTitleAliases` replaces the previous titles still accepted for a transition (send the old title there ' +
    'with a new `aeTitle` so modalities not yet reconfigured keep working); left out, unexpired aliases stay. ' +
    "`gateway` replaces the facility's overrides of the group's gateway settings (null clears them). " +
    "A change to the AE title, stable period or settings becomes a new config version for each of the facility's " +
    'non-revoked gateways whose config changed, pushed to them live.',
  middleware: [authenticate('user')] as const,
  request: {
    params: idParamSchema,
    body: {
      required: true,
      content: json(
        z
          .object({
            name: nameSchema.optional(),
            aeTitle: aeTitleSchema.optional(),
            aeTitleAliases: aeTitleAliasesBodySchema.optional(),
            stablePeriodSeconds: stablePeriodSecondsSchema.optional(),
            gateway: gatewaySettingsBodySchema.nullable().optional(),
          })
          .strict()
          .refine(
            (v) =>
              v.name !== undefined ||
              v.aeTitle !== undefined ||
              v.aeTitleAliases !== undefined ||
              v.stablePeriodSeconds !== undefined ||
              v.gateway !== undefined,
            'give name, aeTitle, aeTitleAliases, stablePeriodSeconds or gateway',
          ),
      ),
    },
  },
  responses: {
    200: { description: 'The facility as changed', content: json(facilitySchema) },
    ...errorResponses(400, 401, 403, 404, 409, 413, 415),
  },
});

const deleteFacilityRoute = createRoute({
  method: 'delete',
  path: '/api/v1/facilities/{id}',
  tags: ['facilities'],
  summary: 'Delete a facility without active gateways (admin)',
  middleware: [authenticate('user')] as const,
  request: { params: idParamSchema },
  responses: {
    204: { description: 'Deleted' },
    ...errorResponses(400, 401, 403, 404, 409),
  },
});

export function registerFacilities(app: OpenAPIHono<AppEnv>): void {
  app.openapi(createFacilityRoute, async (c) => {
    const facility = await createFacility({ ctx: ctxOf(c), input: c.req.valid('json') });
    return c.json(facilityDto(facility), 201);
  });
  app.openapi(listFacilitiesRoute, async (c) => {
    const facilities = await listFacilities({ ctx: ctxOf(c) });
    return c.json({ facilities: facilities.map(facilityDto) }, 200);
  });
  app.openapi(getFacilityRoute, async (c) => {
    const facility = await getFacility({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.json(facilityDto(facility), 200);
  });
  app.openapi(updateFacilityRoute, async (c) => {
    const { facility } = await updateFacility({
      ctx: ctxOf(c),
      input: { ...c.req.valid('json'), id: c.req.valid('param').id },
    });
    return c.json(facilityDto(facility), 200);
  });
  app.openapi(deleteFacilityRoute, async (c) => {
    await deleteFacility({ ctx: ctxOf(c), input: c.req.valid('param') });
    return c.body(null, 204);
  });
}
