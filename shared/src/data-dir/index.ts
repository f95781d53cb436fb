export { exposedDataDirError, PRIVATE_DIR_MODE, PRIVATE_UMASK } from './private-dir.js';
