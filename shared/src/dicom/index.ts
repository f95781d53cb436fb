export { aeTitleProblem, normalizeAeTitle } from './ae-title.js';
export { isEncapsulated, isNativeUncompressed, TS } from './transfer-syntax.js';
export { isValidUid, trimUid } from './uid.js';
