import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '@splitlet/service';
import type { UserInfo } from './user';

/** The TokenReview call, as the API server answers it (status only). */
export type ReviewToken = (token: string) => Promise<{ authenticated: boolean; user?: Partial<UserInfo> }>;

/** clientAuth, the extended key usage a client certificate needs. */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
/** The kubelet's --authentication-token-webhook-cache-ttl default (2 min), for both answers. */
export const TOKEN_CACHE_TTL_MS = 120_000;

/**
 * The kubelet's authenticator in webhook mode, anonymous off: a client certificate
 * that verifies against the client CA (the TLS server checked the chain) names the
 * user (CN) and groups (O); else a bearer token is reviewed by the API server
 * (TokenReview). Undefined: not authenticated (401).
 */
export class RequestAuthenticator {
  private readonly tokens = new Map<string, { at: number; user: UserInfo | undefined }>();

  constructor(
    private readonly reviewToken: ReviewToken,
    private readonly clock: Clock,
  ) {}

  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const fromCert = certificateUser(req.socket as TLSSocket);
    if (fromCert) return fromCert;
    const token = bearerToken(req.headers.authorization);
    return token ? this.reviewed(token) : undefined;
  }

  private async reviewed(token: string): Promise<UserInfo | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.clock.now();
    const hit = this.tokens.get(key);
    if (hit && now - hit.at < TOKEN_CACHE_TTL_MS) return hit.user;
    const review = await this.reviewToken(token);
    const user = review.authenticated && review.user?.username ? fullUser(review.user) : undefined;
    if (this.tokens.size > 10_000) this.tokens.clear();
    this.tokens.set(key, { at: now, user });
    return user;
  }
}

function certificateUser(socket: TLSSocket): UserInfo | undefined {
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert?.subject?.CN) return undefined;
  if (cert.ext_key_usage && !cert.ext_key_usage.includes(CLIENT_AUTH_OID)) return undefined;
  const groups = cert.subject.O === undefined ? [] : ([] as string[]).concat(cert.subject.O);
  return { username: String(cert.subject.CN), uid: '', groups, extra: {} };
}

/** The token of an "Authorization: Bearer <token>" header (the scheme case-insensitive, as client-go's). */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

const fullUser = (u: Partial<UserInfo>): UserInfo => ({ username: u.username ?? '', uid: u.uid ?? '', groups: u.groups ?? [], extra: u.extra ?? {} });
