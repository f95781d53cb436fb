import { TS } from '@ferry/shared';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkedStore } from './dataset-check-store.js';
import type { StoreHandler, StoreRequest, StoreWriter } from './store-handler.js';

/** What the wrapped store was asked to do; it answers Success and asks for a pause on every write. */
function recordingStore() {
  const calls: string[] = [];
  const drains: (() => void)[] = [];
  const store: StoreHandler = {
    begin(): StoreWriter {
      return {
        write: (slice) => {
          calls.push(`write ${slice.length}`);
          return false;
        },
        onDrain: (cb) => drains.push(cb),
        end: async () => {
          calls.push('end');
          return { status: 0, objectId: 'o1' };
        },
        abort: () => calls.push('abort'),
      };
    },
  };
  return { store, calls, drains };
}

const request = (transferSyntaxUid: string): StoreRequest => ({
  associationId: 'a1',
  callingAeTitle: 'MODALITY',
  calledAeTitle: 'GATEWAY',
  peer: '127.0.0.1:1',
  transferSyntaxUid,
  sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
  sopInstanceUid: '1.2.3',
  messageId: 1,
});

/** (0010,0010) PN "DOE^" then a Pixel Data header of 32,768 bytes, explicit VR little endian. */
const patientName = Buffer.from([0x10, 0, 0x10, 0, 0x50, 0x4e, 4, 0, 0x44, 0x4f, 0x45, 0x5e]);
const pixelHeader = Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x57, 0, 0, 0, 0x80, 0, 0]);

function logSink() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

describe('checkedStore', () => {
  it('passes a whole dataset through untouched, with the inner store’s back-pressure and answer', async () => {
    const { store, calls, drains } = recordingStore();
    const writer = checkedStore(store, logSink().log).begin(request(TS.ExplicitVRLittleEndian));
    expect(writer.write(patientName)).toBe(false);
    let drained = false;
    writer.onDrain(() => {
      drained = true;
    });
    drains.shift()!();
    expect(drained).toBe(true);
    expect(await writer.end()).toEqual({ status: 0, objectId: 'o1' });
    expect(calls).toEqual(['write 12', 'end']);
  });

  it('aborts the inner store and answers 0xC210 with what is wrong when the dataset is cut off', async () => {
    const { store, calls } = recordingStore();
    const { log, lines } = logSink();
    const writer = checkedStore(store, log).begin(request(TS.ExplicitVRLittleEndian));
    writer.write(Buffer.concat([patientName, pixelHeader]));
    writer.write(Buffer.alloc(13_479));
    expect(await writer.end()).toEqual({
      status: 0xc210,
      errorComment: 'dataset ends inside Pixel Data: 13479 of 32768 bytes',
    });
    expect(calls).toEqual(['write 24', 'write 13479', 'abort']);
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'dicom.dataset_malformed',
        sopInstanceUid: '1.2.3',
        problem: 'dataset ends inside Pixel Data: 13479 of 32768 bytes',
        tag: 'Pixel Data',
      }),
    ]);
    // No patient data in the log line.
    expect(JSON.stringify(lines)).not.toContain('DOE');
  });

  it('stops writing to the inner store at the first slice that shows damage, and reads the rest', async () => {
    const { store, calls } = recordingStore();
    const writer = checkedStore(store, logSink().log).begin(request(TS.ExplicitVRLittleEndian));
    writer.write(patientName);
    // A sequence delimiter where an element belongs.
    expect(writer.write(Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]))).toBe(true);
    expect(writer.write(Buffer.alloc(100))).toBe(true);
    expect((await writer.end()).status).toBe(0xc210);
    expect(calls).toEqual(['write 12', 'abort']);
  });

  it('leaves a private transfer syntax unchecked, as before', async () => {
    const { store, calls } = recordingStore();
    const writer = checkedStore(store, logSink().log).begin(request('1.2.826.0.1.3680043.99.1'));
    writer.write(pixelHeader);
    expect((await writer.end()).status).toBe(0);
    expect(calls).toEqual(['write 12', 'end']);
  });
});
