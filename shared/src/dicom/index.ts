export { aeTitleProblem, normalizeAeTitle } from './ae-title.js';
export { decodeText, isTextVr, type TextVr, textValues } from './charset-decode.js';
export {
  type CharacterSet,
  type CharsetIssue,
  characterSetOf,
  DEFAULT_CHARACTER_SET,
} from './charset-terms.js';
export { DEFAULT_PRIVATE_SOP_CLASSES } from './private-storage-sop-classes.js';
export { isEncapsulated, isNativeUncompressed, TS } from './transfer-syntax.js';
export { isValidUid, trimUid } from './uid.js';
