/**
 * DICOMweb, read-only, at /dicomweb: QIDO-RS searches and WADO-RS retrieves for viewers such as OHIF.
 * Same user authentication as the API (bearer token, or the session cookie), same group scope: another
 * group's study is not found. Errors are the API's JSON error shape. Viewers on other origins
 * (FERRY_CORS_ORIGINS) call it with bearer tokens only (http/cors.ts).
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { authenticate } from '../../edge/auth-middleware.js';
import { dicomwebCors } from '../../edge/cors.js';
import type { AppEnv } from '../../edge/types.js';
import { bulkdataHandler } from './bulkdata.js';
import { framesHandler } from './frames.js';
import { searchInstancesHandler, searchSeriesHandler, searchStudiesHandler } from './qido.js';
import { renderedHandler, thumbnailHandler } from './rendered.js';
import { metadataHandler, retrieveHandler } from './wado.js';

export const DICOMWEB_ROOT = '/dicomweb';

export function registerDicomweb(app: OpenAPIHono<AppEnv>): void {
  app.use(`${DICOMWEB_ROOT}/*`, dicomwebCors());
  const auth = authenticate('user');
  const studies = `${DICOMWEB_ROOT}/studies`;
  const study = `${studies}/:studyUid`;
  const series = `${study}/series/:seriesUid`;
  const instance = `${series}/instances/:sopUid`;

  app.get(studies, auth, searchStudiesHandler);
  app.get(`${study}/series`, auth, searchSeriesHandler);
  app.get(`${study}/instances`, auth, searchInstancesHandler);
  app.get(`${series}/instances`, auth, searchInstancesHandler);

  app.get(study, auth, retrieveHandler);
  app.get(series, auth, retrieveHandler);
  app.get(instance, auth, retrieveHandler);

  app.get(`${study}/metadata`, auth, metadataHandler);
  app.get(`${series}/metadata`, auth, metadataHandler);
  app.get(`${instance}/metadata`, auth, metadataHandler);

  app.get(`${instance}/frames/:frames`, auth, framesHandler);
  app.get(`${instance}/bulkdata/:path{.+}`, auth, bulkdataHandler);

  for (const level of [study, series, instance, `${instance}/frames/:frames`]) {
    app.get(`${level}/rendered`, auth, renderedHandler);
    app.get(`${level}/thumbnail`, auth, thumbnailHandler);
  }
}
