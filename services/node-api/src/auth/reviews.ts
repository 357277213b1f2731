import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { RequestAttributes } from './attributes';
import type { ReviewToken } from './authenticator';
import type { ReviewAccess } from './authorizer';

/** TokenReview and SubjectAccessReview against the API server, as the node (system:node may create both). */
export function kubeReviews(kc: KubeConfig): { reviewToken: ReviewToken; reviewAccess: ReviewAccess } {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    reviewToken: async (token) => {
      const r = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
      return { authenticated: r.status?.authenticated === true, user: r.status?.user };
    },
    reviewAccess: async (user, attrs: RequestAttributes) => {
      const r = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid || undefined,
            groups: user.groups,
            extra: Object.keys(user.extra).length ? user.extra : undefined,
            resourceAttributes: { namespace: '', verb: attrs.verb, group: '', version: 'v1', resource: attrs.resource, subresource: attrs.subresource, name: attrs.name },
          },
        },
      });
      return r.status?.allowed === true;
    },
  };
}
