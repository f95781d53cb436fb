export * from './async/index.js';
export * from './crypto/index.js';
export * from './data-dir/index.js';
export * from './dicom/index.js';
export * from './errors/index.js';
export * from './protocol/index.js';
