/** Monotonic counters the uploader exposes for health. */
export interface UploaderStats {
  bytesSentTotal: number;
  objectsDeliveredTotal: number;
  errorsTotal: number;
  lastError: { code: string; at: Date } | undefined;
  /** When an object was last delivered (for upload.stalled). */
  lastDeliveredAt: Date | undefined;
}
