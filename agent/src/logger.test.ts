import { describe, expect, it } from 'vitest';
import { createLogger, LogRing, stripPhi } from './logger.js';

describe('LogRing', () => {
  it('keeps the most recent lines, oldest first, and answers n', () => {
    const ring = new LogRing(3);
    for (let i = 1; i <= 5; i++) ring.write(`${JSON.stringify({ n: i })}\n`);
    expect(ring.lines()).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    expect(ring.lines(2)).toEqual([{ n: 4 }, { n: 5 }]);
    expect(ring.lines(10)).toHaveLength(3);
    expect(new LogRing(2).lines()).toEqual([]);
  });

  it('keeps a line that is not JSON as its text', () => {
    const ring = new LogRing(2);
    ring.write('plain text\n');
    expect(ring.lines()).toEqual([{ msg: 'plain text' }]);
  });

  it('drops patient-data keys at any depth from every line it gives out', () => {
    const ring = new LogRing(5);
    ring.write(
      JSON.stringify({
        msg: 'stored',
        patientName: 'DOE^JANE',
        nested: { PatientID: '123', accessionNumber: 'A1', sopInstanceUid: '1.2.3' },
        list: [{ studyDescription: 'CT HEAD', ok: true }],
      }),
    );
    const [line] = ring.lines();
    expect(line).toEqual({ msg: 'stored', nested: { sopInstanceUid: '1.2.3' }, list: [{ ok: true }] });
    expect(JSON.stringify(line)).not.toMatch(/DOE|CT HEAD|"123"/);
  });

  it('refuses a capacity below one', () => {
    expect(() => new LogRing(0)).toThrow(RangeError);
  });
});

describe('stripPhi', () => {
  it('leaves other values alone', () => {
    expect(stripPhi({ a: 1, b: [1, 'x'], c: null })).toEqual({ a: 1, b: [1, 'x'], c: null });
    expect(stripPhi('text')).toBe('text');
  });
});

describe('createLogger with a ring', () => {
  it('feeds the ring the same redacted structured lines', async () => {
    const ring = new LogRing(10);
    const log = createLogger('ring-test', { ring });
    log.info({ event: 'x.happened', token: { token: 'secret' }, patient: { name: 'DOE^JOHN' } }, 'hello');
    log.debug('below the level');
    log.flush();
    await new Promise((r) => setTimeout(r, 20));
    const lines = ring.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ name: 'ring-test', event: 'x.happened', msg: 'hello', level: 30 });
    expect(JSON.stringify(lines[0])).not.toMatch(/secret|DOE/);
  });
});
