import { ApiException, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { requiresRefresh, ServiceAccountTokens } from './service-account-tokens';

/** A TokenRequest API that issues token-1, token-2, … for what was asked, as the API server answers. */
function tokenApi(clock: { now: number }) {
  let n = 0;
  const asked: unknown[] = [];
  const api = {
    createNamespacedServiceAccountToken: async (req: { name: string; namespace: string; body: { spec: { expirationSeconds?: number } } }) => {
      asked.push(req);
      const ttl = req.body.spec.expirationSeconds ?? 3600;
      return { spec: { ...req.body.spec, expirationSeconds: ttl }, status: { token: `token-${++n}`, expirationTimestamp: new Date(clock.now + ttl * 1000) } };
    },
  };
  return { api: api as unknown as CoreV1Api, asked };
}

const pod: V1Pod = { metadata: { name: 'web', namespace: 'ns', uid: 'u1' }, spec: { serviceAccountName: 'robot', containers: [] } };

describe('pod-sync service-account tokens', () => {
  it('tokens - one bound to the pod, for its service account, audience and lifetime', async () => {
    const clock = { now: 1_000_000 };
    const { api, asked } = tokenApi(clock);
    const tokens = new ServiceAccountTokens(api, () => clock.now);
    expect(await tokens.token(pod, { audience: 'vault', expirationSeconds: 600 })).toBe('token-1');
    expect(asked[0]).toEqual({
      namespace: 'ns',
      name: 'robot',
      body: { spec: { audiences: ['vault'], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web', uid: 'u1' } } },
    });
  });

  it("tokens - NodeRestriction's 404 for a pod its lister has not seen yet is asked again; a 404 that stands fails the fetch", async () => {
    const clock = { now: 1_000_000 };
    const { api } = tokenApi(clock);
    const notFound = () => new ApiException(404, 'Not Found', JSON.stringify({ kind: 'Status', message: 'pod "web" not found', reason: 'NotFound', code: 404 }), {});
    let refusals = 2;
    const issue = api.createNamespacedServiceAccountToken.bind(api);
    const lagging = { createNamespacedServiceAccountToken: async (req: never) => (refusals-- > 0 ? Promise.reject(notFound()) : issue(req)) } as unknown as CoreV1Api;
    expect(await new ServiceAccountTokens(lagging, () => clock.now).token(pod, { expirationSeconds: 600 })).toBe('token-1');
    const never = { createNamespacedServiceAccountToken: async () => Promise.reject(notFound()) } as unknown as CoreV1Api;
    await expect(new ServiceAccountTokens(never, () => clock.now).token(pod, { expirationSeconds: 600 })).rejects.toThrow('failed to fetch token: HTTP 404: pod "web" not found');
  });

  it('tokens - the same token until 80% of its TTL has passed, then a new one', async () => {
    const clock = { now: 1_000_000 };
    const tokens = new ServiceAccountTokens(tokenApi(clock).api, () => clock.now);
    expect(await tokens.token(pod, { expirationSeconds: 1000 })).toBe('token-1');
    clock.now += 799_000;
    expect(await tokens.token(pod, { expirationSeconds: 1000 })).toBe('token-1');
    clock.now += 2_000;
    expect(await tokens.token(pod, { expirationSeconds: 1000 })).toBe('token-2');
  });

  it('tokens - a long-lived token is renewed after 24 h at the latest; a forgotten pod starts afresh', async () => {
    const now = 0;
    expect(requiresRefresh({ expiresAt: now + 365 * 86_400_000, ttlSeconds: 365 * 86_400 }, now + 86_400_000 + 1)).toBe(true);
    expect(requiresRefresh({ expiresAt: now + 365 * 86_400_000, ttlSeconds: 365 * 86_400 }, now + 3_600_000)).toBe(false);
    const clock = { now: 0 };
    const tokens = new ServiceAccountTokens(tokenApi(clock).api, () => clock.now);
    await tokens.token(pod, { expirationSeconds: 600 });
    tokens.forget('u1');
    expect(await tokens.token(pod, { expirationSeconds: 600 })).toBe('token-2');
  });
});
