import { ApiException } from '@kubernetes/client-node';
import { backOff } from 'exponential-backoff';

/** The HTTP status of an API server error, or undefined for anything else. */
export const apiStatus = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
export const isForbidden = (err: unknown): boolean => apiStatus(err) === 403;
export const isAlreadyExists = (err: unknown): boolean => apiStatus(err) === 409;

/**
 * An API error as one line: "HTTP 403: <the API server's Status message>", or the
 * error's own message for anything that is not an API server answer.
 */
export function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body;
      }
    } else if (body && typeof body === 'object') message = (body as { message?: string }).message;
    return `HTTP ${err.code}: ${message ?? err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The Node authorizer's refusal for want of a relationship: the object is not (yet)
 * one of this node's. Its graph learns a pod's binding from an informer of the API
 * server's own, so for a moment after a pod is bound the node may see the pod before
 * the authorizer does, and a read of its ConfigMap, Secret or token is refused so.
 */
export const isNodeGraphLag = (err: unknown): boolean => isForbidden(err) && describeApiError(err).includes('no relationship found between node');

/**
 * Runs a read the Node authorizer grants through a pod of this node, again while the
 * authorizer refuses it for want of that relationship (isNodeGraphLag): after 50, 100,
 * 200 and 400 ms, then the refusal stands. The kubelet's object managers likewise wait
 * up to 1 s for their cache of the object to fill before a mount fails.
 */
export function whileNodeGraphLags<T>(read: () => Promise<T>, alsoLag: (err: unknown) => boolean = () => false): Promise<T> {
  return backOff(read, { numOfAttempts: 5, startingDelay: 50, timeMultiple: 2, jitter: 'none', retry: (err: unknown) => isNodeGraphLag(err) || alsoLag(err) });
}

/**
 * NodeRestriction's refusal of a TokenRequest for a pod its informer has not seen yet:
 * the admission plugin reads the bound pod from the API server's own pod lister, which
 * may lag the node's watch for a moment after the pod is created, and answers 404
 * `pod "<name>" not found` then.
 */
export const isBoundPodLag = (err: unknown, podName: string): boolean => isNotFound(err) && describeApiError(err).includes(`pod "${podName}" not found`);
