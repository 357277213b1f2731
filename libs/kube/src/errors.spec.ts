import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { describeApiError, isConflict, isNotFound } from './errors';

describe('kube errors', () => {
  it('describeApiError - the API server\'s Status message, with its code', () => {
    const body = JSON.stringify({ kind: 'Status', code: 403, message: 'nodes "b" is forbidden: node "a" is not allowed to modify node "b"' });
    const err = new ApiException(403, 'Forbidden', body, {});
    expect(describeApiError(err)).toBe('HTTP 403: nodes "b" is forbidden: node "a" is not allowed to modify node "b"');
    expect(describeApiError(new Error('connect ECONNREFUSED'))).toBe('connect ECONNREFUSED');
  });

  it('isNotFound / isConflict - by status code, never by message text', () => {
    expect(isNotFound(new ApiException(404, '', '', {}))).toBe(true);
    expect(isConflict(new ApiException(409, '', '', {}))).toBe(true);
    expect(isNotFound(new Error('404'))).toBe(false);
  });
});
