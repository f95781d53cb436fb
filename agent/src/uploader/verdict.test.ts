import { FerryError } from '@ferry/shared';
import { describe, expect, it } from 'vitest';
import { orderedParts } from './offer.js';
import { partError } from './upload-client.js';
import { verdictOf } from './verdict.js';

const err = (code: ConstructorParameters<typeof FerryError>[0], details?: Record<string, unknown>) =>
  new FerryError(code, 'x', details ? { details } : {});

describe('verdictOf', () => {
  it.each([
    ['network or 5xx', err('control.unreachable'), 'transient'],
    ['storage down', err('storage.unavailable', { status: 503 }), 'transient'],
    ['a body nobody understands', err('control.bad_response', { status: 404 }), 'transient'],
    ['rate limited', err('auth.rate_limited', { status: 429 }), 'transient'],
    ['an expired token (clock skew)', err('auth.expired_token', { status: 401 }), 'transient'],
    ['forbidden', err('auth.forbidden', { status: 403 }), 'transient'],
    ['a request timeout', err('request.invalid', { status: 408 }), 'transient'],
    ['retry answers', err('upload.incomplete'), 'transient'],
    ['a bug', new TypeError('oops'), 'transient'],
    ['reenroll', err('auth.invalid_token', { status: 401, reenroll: true }), 'reenroll'],
    ['a refused request', err('request.invalid', { status: 400 }), 'permanent'],
    ['a refused part URL', err('upload.url_invalid', { status: 403 }), 'permanent'],
    ['a conflict', err('resource.conflict', { status: 409 }), 'permanent'],
    ['a lost local file', err('spool.corrupt'), 'permanent'],
  ])('%s is %s', (_what, e, verdict) => {
    expect(verdictOf(e)).toBe(verdict);
  });
});

describe('partError', () => {
  it('keeps a Ferry error body code, else maps the status', () => {
    const body = JSON.stringify({
      error: { code: 'upload.url_invalid', message: 'expired', requestId: 'r' },
    });
    expect(partError(403, body)).toMatchObject({ code: 'upload.url_invalid', details: { status: 403 } });
    expect(partError(403, '<Error>AccessDenied</Error>').code).toBe('upload.url_invalid');
    expect(partError(500, '').code).toBe('storage.unavailable');
    expect(verdictOf(partError(500, ''))).toBe('transient');
    expect(partError(400, 'bad').code).toBe('request.invalid');
  });
});

describe('orderedParts', () => {
  const part = (partNumber: number, offset: number, length: number, done = false) => ({
    partNumber,
    offset,
    length,
    done,
    ...(done ? {} : { url: `http://x/${partNumber}` }),
  });

  it('orders parts and checks they tile the object', () => {
    expect(orderedParts([part(2, 8, 2), part(1, 0, 8, true)], 10).map((p) => p.partNumber)).toEqual([1, 2]);
    expect(() => orderedParts([part(1, 0, 8), part(2, 9, 1)], 10)).toThrow(/tile/);
    expect(() => orderedParts([part(1, 0, 8)], 10)).toThrow(/cover 8 of 10/);
    expect(() => orderedParts([{ partNumber: 1, offset: 0, length: 10, done: false }], 10)).toThrow(/tile/);
  });
});
