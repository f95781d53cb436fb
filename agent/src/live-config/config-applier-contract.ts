/** What the control channel needs to apply pushed config; agent.ts hands it the LiveConfigApplier. */

export type ApplyOutcome = { ok: true } | { ok: false; reason: string };

/** Applies pushed desired config live; a rejected version leaves the config in force untouched. */
export interface ConfigApplier {
  /** The version in force (0 when the gateway has none from the control plane). */
  appliedVersion(): number;
  apply(version: number, config: Record<string, unknown>): Promise<ApplyOutcome>;
}
