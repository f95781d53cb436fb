export { ERROR_CODES, type ErrorCode, type ErrorCodeEntry } from './codes.js';
export { FerryError, isFerryError } from './ferry-error.js';
