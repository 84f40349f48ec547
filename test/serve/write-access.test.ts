import { describe, expect, test } from 'vitest';
import { UserError } from '../../src/errors.js';
import { WriteAccess, isLoopbackHost } from '../../src/serve/write-access.js';

describe('the write policy of digits serve', () => {
  const open = new WriteAccess({ host: '127.0.0.1' });
  const lan = new WriteAccess({ host: '0.0.0.0', allowedOrigins: ['http://digits.lan:8080/'], token: 'a-long-token' });

  test.each([
    // [policy, headers, status or null, kind]
    ['open', { host: '127.0.0.1:8080' }, null, undefined],
    ['open', { host: 'localhost:8080', origin: 'http://localhost:8080' }, null, undefined],
    ['open', { host: '[::1]:8080' }, null, undefined],
    ['open', { host: 'evil.example:8080' }, 403, 'forbidden_host'],
    ['open', {}, 403, 'forbidden_host'],
    ['open', { host: '127.0.0.1:8080', origin: 'http://evil.example' }, 403, 'forbidden_origin'],
    ['open', { host: '127.0.0.1:8080', origin: 'ftp://127.0.0.1:8080' }, 403, 'forbidden_origin'],
    ['open', { host: '127.0.0.1:8080', origin: 'null' }, 403, 'forbidden_origin'],
    ['lan', { host: 'digits.lan:8080', origin: 'http://digits.lan:8080', authorization: 'Bearer a-long-token' }, null, undefined],
    ['lan', { host: 'digits.lan:8080', origin: 'http://digits.lan:8080' }, 401, 'unauthorized'],
    ['lan', { host: '127.0.0.1:8080', authorization: 'Bearer a-long-tokeN' }, 401, 'unauthorized'],
    ['lan', { host: '127.0.0.1:8080', authorization: 'bearer  a-long-token ' }, null, undefined],
    // every interface (0.0.0.0) is not a host name a page may use
    ['lan', { host: '0.0.0.0:8080', authorization: 'Bearer a-long-token' }, 403, 'forbidden_host'],
  ] as const)('%s policy, %j → %s %s', (which, headers, status, kind) => {
    // Given a policy and a request's headers, When a correction is checked
    const refusal = (which === 'open' ? open : lan).checkWrite(headers);
    // Then it goes ahead, or is refused with the status and kind that say why
    if (status === null) expect(refusal).toBeNull();
    else expect(refusal).toMatchObject({ status, kind });
  });

  test('a missing token asks for one, and says how (WWW-Authenticate: Bearer)', () => {
    const refusal = lan.checkWrite({ host: '127.0.0.1:8080' });
    expect(refusal?.error).toBe("saving corrections needs the server's token");
    expect(refusal?.headers).toEqual({ 'www-authenticate': 'Bearer' });
  });

  test('the listening interface is an allowed host name', () => {
    const named = new WriteAccess({ host: '192.168.1.20', token: 'a-long-token' });
    expect(named.checkWrite({ host: '192.168.1.20:8080', authorization: 'Bearer a-long-token' })).toBeNull();
    expect(named.checkWrite({ host: '192.168.1.21:8080', authorization: 'Bearer a-long-token' })).toMatchObject({ status: 403 });
  });

  test('CORS: only an allowed origin is echoed, and only its preflight is answered with CORS headers', () => {
    expect(lan.corsOrigin('http://digits.lan:8080')).toBe('http://digits.lan:8080');
    expect(lan.corsOrigin('http://evil.example')).toBeUndefined();
    expect(lan.corsOrigin(undefined)).toBeUndefined();
    expect(lan.preflight({ origin: 'http://digits.lan:8080', 'access-control-request-method': 'POST' })).toEqual({
      kind: 'cors',
      headers: { 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'Content-Type, Authorization', 'access-control-max-age': '600' },
    });
    expect(lan.preflight({ origin: 'http://evil.example', 'access-control-request-method': 'POST' })).toMatchObject({ status: 403, kind: 'forbidden_origin' });
    expect(lan.preflight({})).toEqual({ kind: 'plain', headers: { allow: 'OPTIONS, POST' } });
  });

  test('a short token or an origin that is not one is a user error naming its flag', () => {
    expect(() => new WriteAccess({ token: 'short' })).toThrow(UserError);
    expect(() => new WriteAccess({ token: 'short' })).toThrow(/shorter than 8/);
    try {
      new WriteAccess({ allowedOrigins: ['digits.lan'] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).message).toMatch(/--allowed-origin "digits.lan" is not an origin/);
      expect((error as UserError).where).toEqual({ flag: 'allowed-origin' });
    }
  });

  test.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.10.0.3', true],
    ['[::1]', true],
    ['::1', true],
    ['0.0.0.0', false],
    ['192.168.1.20', false],
    ['localhost.evil.example', false],
  ])('isLoopbackHost(%s) is %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });
});
