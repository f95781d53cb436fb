import type { Backend } from './harness.js';
import { runCommonRouteTests } from './security-suite.js';
import { seedOneStudy } from './study-fixtures.js';

/** The UIDs of the one study seedOneStudy stores for a group. */
export type OneStudyIds = Awaited<ReturnType<typeof seedOneStudy>>;

export const studyPath = (ids: { studyUid: string }) => `/dicomweb/studies/${ids.studyUid}`;
export const seriesPath = (ids: { studyUid: string; seriesUid: string }) =>
  `${studyPath(ids)}/series/${ids.seriesUid}`;
export const instancePath = (ids: OneStudyIds) => `${seriesPath(ids)}/instances/${ids.sopUid}`;

/**
 * The shared security tests (credentials, sessions, another group's reader) for DICOMweb GET routes
 * that read one group's study, on `backend`: each route's resource is a study seeded per group.
 */
export function runDicomwebReadSecurity(
  backend: Backend,
  routes: readonly { name: string; path: string | ((ids: OneStudyIds) => string) }[],
): void {
  for (const route of routes) {
    runCommonRouteTests(backend, {
      name: `GET ${route.name}`,
      method: 'GET',
      path: route.path,
      caller: 'user',
      resourceOfGroup: seedOneStudy,
    });
  }
}
