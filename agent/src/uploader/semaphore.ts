/** Counts uploads in flight; waiters are served in order. */
export class Semaphore {
  private used = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private max: number) {}

  get limit(): number {
    return this.max;
  }

  /** Resizes live: a larger limit admits waiters at once; a smaller one lets holders finish. */
  setLimit(limit: number): void {
    this.max = limit;
    while (this.used < this.max && this.waiters.length > 0) this.waiters.shift()?.();
  }

  get inUse(): number {
    return this.used;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.used < this.max) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.used++;
        resolve(this.releaser());
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.used--;
      if (this.used < this.max) this.waiters.shift()?.();
    };
  }
}
