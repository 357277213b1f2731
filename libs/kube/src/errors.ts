import { ApiException } from '@kubernetes/client-node';

/** The HTTP status of an API server error, or undefined for anything else. */
export const apiStatus = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
export const isForbidden = (err: unknown): boolean => apiStatus(err) === 403;
export const isAlreadyExists = (err: unknown): boolean => apiStatus(err) === 409;
