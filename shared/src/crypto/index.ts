export * from './format.js';
export * from './keys.js';
export { type OpenedPart, openObject, parseHeader } from './open.js';
export { ObjectSealer } from './seal.js';
