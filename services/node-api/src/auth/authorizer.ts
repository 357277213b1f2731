import type { Clock } from '@splitlet/service';
import type { RequestAttributes } from './attributes';
import type { UserInfo } from './user';

/** The SubjectAccessReview call: allowed or not. */
export type ReviewAccess = (user: UserInfo, attrs: RequestAttributes) => Promise<boolean>;

/** The kubelet's --authorization-webhook-cache-authorized-ttl and -unauthorized-ttl defaults. */
export const ALLOWED_TTL_MS = 5 * 60_000;
export const DENIED_TTL_MS = 30_000;

/**
 * The kubelet's authorizer in webhook mode: every request is reviewed by the API
 * server (SubjectAccessReview), an answer kept 5 min when allowed and 30 s when
 * denied, per user and attributes. A failed review is not cached (the caller answers 500).
 */
export class RequestAuthorizer {
  private readonly decisions = new Map<string, { at: number; allowed: boolean }>();

  constructor(
    private readonly reviewAccess: ReviewAccess,
    private readonly clock: Clock,
  ) {}

  async authorize(user: UserInfo, attrs: RequestAttributes): Promise<boolean> {
    const key = JSON.stringify([user.username, user.uid, [...user.groups].sort(), sortedExtra(user.extra), attrs.verb, attrs.resource, attrs.subresource, attrs.name]);
    const now = this.clock.now();
    const hit = this.decisions.get(key);
    if (hit && now - hit.at < (hit.allowed ? ALLOWED_TTL_MS : DENIED_TTL_MS)) return hit.allowed;
    const allowed = await this.reviewAccess(user, attrs);
    if (this.decisions.size > 10_000) this.decisions.clear();
    this.decisions.set(key, { at: now, allowed });
    return allowed;
  }
}

const sortedExtra = (extra: Record<string, string[]>) => Object.keys(extra).sort().map((k) => [k, extra[k]]);
