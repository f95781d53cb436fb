/**
 * The viewer's app-config.js, in place of the release's (which points at OHIF's public demo server):
 * one DICOMweb data source, this server's own /dicomweb on the page's origin. The browser sends the
 * console's session cookie with those same-origin requests, so there is no second sign-in and no
 * token in the page. The roots are computed in the browser from `window.location.origin` rather than
 * from the request's Host header, which a proxy may rewrite.
 *
 * What the settings say about our DICOMweb (routes/dicomweb):
 * - QIDO-RS takes `includefield`, `fuzzymatching` and `*`/`?` wildcards (qido-query.ts);
 * - WADO-RS serves /metadata with BulkDataURIs, /frames, /bulkdata, /rendered and /thumbnail;
 * - no `staticWado` shortcuts, no rejection (nothing deletes a stored study from the viewer).
 * Nothing here reaches another origin: no OIDC, no Google Cloud adapter, no customization URLs, no
 * dynamic config; the CSP (viewer-csp.ts) would refuse them anyway.
 */
export const VIEWER_APP_CONFIG_JS = `/** @type {AppTypes.Config} Written by Ferry: the viewer reads this server's own DICOMweb. */
(function () {
  var dicomweb = window.location.origin + '/dicomweb';
  window.config = {
    name: 'ferry',
    routerBasename: '/viewer',
    extensions: [],
    modes: [],
    customizationService: {},
    showStudyList: true,
    maxNumberOfWebWorkers: 3,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: true,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    groupEnabledModesFirst: true,
    maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 25 },
    showErrorDetails: 'always',
    defaultDataSourceName: 'ferry',
    dataSources: [
      {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'ferry',
        configuration: {
          friendlyName: 'Ferry',
          name: 'ferry',
          qidoRoot: dicomweb,
          wadoRoot: dicomweb,
          wadoUriRoot: dicomweb,
          qidoSupportsIncludeField: true,
          supportsReject: false,
          imageRendering: 'wadors',
          thumbnailRendering: 'wadors',
          enableStudyLazyLoad: true,
          supportsFuzzyMatching: true,
          supportsWildcard: true,
          staticWado: false,
          omitQuotationForMultipartRequest: true,
          bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        },
      },
    ],
    httpErrorHandler: function (error) {
      console.warn('DICOMweb request failed', error && error.status);
    },
  };
})();
`;
