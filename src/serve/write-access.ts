/**
 * Who may save corrections, and which other pages may call the server (CORS): the server's
 * write policy, kept apart from its routes so that it is read and tested in one place.
 *
 * Writes come from loopback pages or allowed origins only: the Host header must name the
 * server by a loopback name, the listening interface or an allowed origin's host (a
 * DNS-rebinding page sends its own name), and a browser's Origin must be the same origin or an
 * allowed one. With a token, the request must carry it. A page on an `--allowed-origin` may
 * predict and save corrections from its own origin (CORS, with a preflight); other origins get
 * no CORS headers, so their pages cannot read the answers.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { UserError } from '../errors.js';

export interface WriteAccessOptions {
  /** the interface the server listens on: its name is an allowed Host (unless it is every interface) */
  host?: string;
  /** origins besides the loopback names allowed to save corrections, e.g. http://digits.lan:8080 */
  allowedOrigins?: string[];
  /** when set, saving a correction needs `Authorization: Bearer <token>` */
  token?: string;
}

/** The request headers the policy reads. */
export interface AccessHeaders {
  host?: string;
  origin?: string;
  authorization?: string;
  'access-control-request-method'?: string;
}

/** A refused request: the answer's status, body and extra headers. */
export interface Refusal {
  status: number;
  error: string;
  hint: string;
  kind: string;
  headers?: Record<string, string>;
}

/** What a preflight gets when it is not refused. */
export type PreflightAnswer = { kind: 'plain'; headers: Record<string, string> } | { kind: 'cors'; headers: Record<string, string> };

/** How long a browser may reuse a preflight's answer (seconds). */
export const CORS_MAX_AGE_S = 600;

/** localhost, ::1 and 127.0.0.0/8. */
export function isLoopbackHost(host: string): boolean {
  const name = bareHost(host);
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function bareHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

function hostnameOf(hostHeader: string): string | null {
  try {
    return bareHost(new URL(`http://${hostHeader}`).hostname);
  } catch {
    return null;
  }
}

function digestOf(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function foreignOrigin(origin: string, what: string): Refusal {
  return {
    status: 403,
    error: `${what} from the origin ${JSON.stringify(origin.slice(0, 100))}`,
    hint: "Use the pad this server serves, or start the server with --allowed-origin for that page's origin.",
    kind: 'forbidden_origin',
  };
}

export class WriteAccess {
  readonly allowedOrigins: ReadonlySet<string>;
  readonly tokenRequired: boolean;
  private readonly allowedHosts: Set<string>;
  private readonly tokenDigest: Buffer | null;

  /** Checks the options: a short token or an origin that is not one is a user error naming its flag. */
  constructor(options: WriteAccessOptions) {
    if (options.token !== undefined && options.token.length < 8) {
      throw new UserError('the token is shorter than 8 characters', { where: { flag: 'token' }, hint: 'Use a long random token, e.g. --token $(openssl rand -hex 16).' });
    }
    const origins = new Set<string>();
    for (const origin of options.allowedOrigins ?? []) {
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        throw new UserError(`--allowed-origin ${JSON.stringify(origin)} is not an origin`, { where: { flag: 'allowed-origin' }, hint: 'Give scheme, host and port, e.g. --allowed-origin http://digits.lan:8080.' });
      }
      origins.add(url.origin);
    }
    this.allowedOrigins = origins;
    // Host names a browser may reach us by for writes: loopback, the interface we listen on (unless every one), the allowed origins'.
    this.allowedHosts = new Set(['localhost', '127.0.0.1', '::1']);
    if (options.host && options.host !== '0.0.0.0' && options.host !== '::') this.allowedHosts.add(bareHost(options.host));
    for (const origin of origins) this.allowedHosts.add(bareHost(new URL(origin).hostname));
    this.tokenDigest = options.token === undefined ? null : digestOf(options.token);
    this.tokenRequired = options.token !== undefined;
  }

  /** The Access-Control-Allow-Origin of an answer on a CORS route: the request's origin when it is allowed. */
  corsOrigin(origin: string | undefined): string | undefined {
    return origin !== undefined && this.allowedOrigins.has(origin) ? origin : undefined;
  }

  /** Why a write (a correction) is refused, or null when it may go ahead. */
  checkWrite(headers: AccessHeaders): Refusal | null {
    const hostHeader = headers.host ?? '';
    const host = hostnameOf(hostHeader);
    if (!host || !this.allowedHosts.has(host)) {
      return {
        status: 403,
        error: `writes are not accepted for the host name ${JSON.stringify(hostHeader.slice(0, 100))}`,
        hint: 'Open the pad at http://127.0.0.1:<port>/ or http://localhost:<port>/, or start the server with --allowed-origin <scheme://host:port> for that name.',
        kind: 'forbidden_host',
      };
    }
    const origin = headers.origin;
    if (origin !== undefined && !this.allowedOrigins.has(origin) && !sameOrigin(origin, hostHeader)) return foreignOrigin(origin, 'writes are not accepted');
    if (this.tokenDigest !== null) {
      const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
      if (!match || !timingSafeEqual(digestOf(match[1]!.trim()), this.tokenDigest)) {
        return {
          status: 401,
          error: match ? 'the bearer token is wrong' : "saving corrections needs the server's token",
          hint: 'Send Authorization: Bearer <token> (the pad takes it from its address: http://host:port/#token=<token>).',
          kind: 'unauthorized',
          headers: { 'www-authenticate': 'Bearer' },
        };
      }
    }
    return null;
  }

  /**
   * A browser's CORS preflight: a page on an allowed origin may POST JSON with a bearer token;
   * any other origin is refused without CORS headers, so its browser sends nothing. Without
   * Origin and Access-Control-Request-Method it is a plain OPTIONS, answered with Allow.
   */
  preflight(headers: AccessHeaders): PreflightAnswer | Refusal {
    const origin = headers.origin;
    if (origin === undefined || headers['access-control-request-method'] === undefined) return { kind: 'plain', headers: { allow: 'OPTIONS, POST' } };
    if (!this.allowedOrigins.has(origin)) return foreignOrigin(origin, 'cross-origin requests are not accepted');
    return {
      kind: 'cors',
      headers: {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'Content-Type, Authorization',
        'access-control-max-age': String(CORS_MAX_AGE_S),
      },
    };
  }
}

/** Whether a browser's Origin is the page the request names in its Host (http or https). */
function sameOrigin(origin: string, hostHeader: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host.toLowerCase() === hostHeader.toLowerCase();
  } catch {
    return false;
  }
}
