import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { describeApiError, isBoundPodLag, whileNodeGraphLags } from '@splitlet/kube';

/** What a serviceAccountToken projection asks for. */
export interface TokenRequestSpec {
  audience?: string;
  expirationSeconds: number;
}

interface Held {
  token: string;
  /** When the token expires and how long it was issued for, as the API server answered (it may extend it). */
  expiresAt: number;
  ttlSeconds: number;
}

/** The kubelet's token manager never keeps a token for more than a day without asking again. */
const MAX_TTL_MS = 24 * 3600_000;

/**
 * A token held is renewed once 80 % of its TTL has passed, or it is older than 24 h
 * (pkg/kubelet/token/token_manager.go requiresRefresh).
 */
export function requiresRefresh(held: { expiresAt: number; ttlSeconds: number }, now: number): boolean {
  const issuedAt = held.expiresAt - held.ttlSeconds * 1000;
  if (now > issuedAt + MAX_TTL_MS) return true;
  return now > held.expiresAt - held.ttlSeconds * 200; // 20 % of the TTL in ms
}

/**
 * Service-account tokens for the pods of this node, through the TokenRequest API
 * bound to the pod (the Node authorizer and NodeRestriction allow exactly that:
 * a token for the service account of a pod bound to this node, bound to that pod).
 * Kept per pod, audience and lifetime; renewed before they expire; forgotten with
 * the pod.
 */
export class ServiceAccountTokens {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly api: CoreV1Api,
    private readonly now: () => number = Date.now,
  ) {}

  async token(pod: V1Pod, spec: TokenRequestSpec): Promise<string> {
    const m = pod.metadata!;
    const sa = pod.spec?.serviceAccountName || 'default';
    const key = `${m.uid}/${sa}/${spec.audience ?? ''}/${spec.expirationSeconds}`;
    const have = this.held.get(key);
    if (have && !requiresRefresh(have, this.now())) return have.token;
    try {
      // A pod bound a moment ago may not be in the Node authorizer's graph yet (whileNodeGraphLags),
      // nor in NodeRestriction's pod lister (isBoundPodLag: 404 for the bound pod).
      const tr = await whileNodeGraphLags(
        () =>
        this.api.createNamespacedServiceAccountToken({
          namespace: m.namespace!,
          name: sa,
          body: {
            spec: {
              audiences: spec.audience ? [spec.audience] : [],
              expirationSeconds: spec.expirationSeconds,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: m.name!, uid: m.uid! },
            },
          },
        }),
        (err) => isBoundPodLag(err, m.name!),
      );
      if (!tr.status?.token) throw new Error('the API server answered without a token');
      const ttlSeconds = tr.spec?.expirationSeconds ?? spec.expirationSeconds;
      const held: Held = {
        token: tr.status.token,
        expiresAt: tr.status.expirationTimestamp ? new Date(tr.status.expirationTimestamp).getTime() : this.now() + ttlSeconds * 1000,
        ttlSeconds,
      };
      this.held.set(key, held);
      return held.token;
    } catch (err) {
      // A held token that is still valid is better than none while the API server is away.
      if (have && this.now() < have.expiresAt) return have.token;
      throw new Error(`failed to fetch token: ${describeApiError(err)}`);
    }
  }

  /** Drops the tokens of a pod that is gone. */
  forget(uid: string): void {
    for (const k of this.held.keys()) if (k.startsWith(`${uid}/`)) this.held.delete(k);
  }
}
