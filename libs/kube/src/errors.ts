import { ApiException } from '@kubernetes/client-node';

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
