export { type InstanceManifest, instanceManifestSchema } from './manifest.js';
export { PROTOCOL_VERSION } from './version.js';
