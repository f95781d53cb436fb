// What the agent and the control plane agree on, and nothing else: the object format, the wire contract,
// the error table, the pushed-settings table. It does no I/O and imports neither side, so both compute
// the same bytes and the contract is tested on bytes alone (docs/architecture.md); a change to the wire
// bumps PROTOCOL_VERSION with a dated line.
export * from './async/index.js';
export * from './crypto/index.js';
export * from './data-dir/index.js';
export * from './dicom/index.js';
export * from './errors/index.js';
export * from './protocol/index.js';
