import type { AliasUse } from './alias-use.js';

/** Monotonic counters and live state the DICOM listener exposes for health. */
export interface ListenerStats {
  listening: boolean;
  aeTitle: string;
  port: number;
  activeAssociations: number;
  /** Associations accepted since start (monotonic). */
  associationsTotal: number;
  /** Instances answered C-STORE Success since start (monotonic). */
  instancesStoredTotal: number;
  /** Latest C-STORE Success per calling AE title. */
  lastStoreByCallingAe: ReadonlyMap<string, Date>;
  /** The DICOM TLS certificate file, when the listener uses TLS. */
  tlsCertFile: string | undefined;
  /** Calling AE titles the listener accepts now; 0 means it accepts any caller. */
  allowedCallingAeCount: number;
  /** The unexpired AE title aliases and the associations that called each since start. */
  aeTitleAliases?: AliasUse[];
}
