export { ERROR_CODES, type ErrorCode } from './codes.js';
export { FerryError, isFerryError } from './ferry-error.js';
