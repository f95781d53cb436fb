import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { deadline } from './deadline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Resolves with the abort reason once `signal` aborts; collects garbage all the while. */
function abortedUnderGc(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const collect = setInterval(gc, 20);
    // Far beyond the deadline under test: this only turns a hang into a clear failure.
    const hang = setTimeout(() => {
      clearInterval(collect);
      reject(new Error('the deadline never fired'));
    }, 20_000);
    signal.addEventListener('abort', () => {
      clearInterval(collect);
      clearTimeout(hang);
      resolve(signal.reason);
    });
  });
}

describe('deadline', () => {
  it('fires its timeout even with a caller signal and garbage collections meanwhile', async () => {
    // The shape that hung uploads on Node 20: a long-lived caller signal plus a per-call timeout.
    const stop = new AbortController();
    const reason = await abortedUnderGc(deadline(stop.signal, 200).signal);
    expect((reason as Error).name).toBe('TimeoutError');
    expect(stop.signal.aborted).toBe(false);
  });

  it('aborts with the caller’s reason when the caller gives up first', async () => {
    const stop = new AbortController();
    const d = deadline(stop.signal, 60_000);
    const why = new Error('stopping');
    stop.abort(why);
    expect(d.signal.aborted).toBe(true);
    expect(d.signal.reason).toBe(why);
    d.clear();
    const already = deadline(stop.signal, 60_000);
    expect(already.signal.reason).toBe(why);
    already.clear();
  });

  it('once cleared, neither the timer nor the caller aborts it', async () => {
    const stop = new AbortController();
    const d = deadline(stop.signal, 50);
    d.clear();
    stop.abort();
    await new Promise((r) => setTimeout(r, 150));
    expect(d.signal.aborted).toBe(false);
  });
});
