import { describe, expect, it } from 'vitest';
import { requestAttributes } from './attributes';

describe('request attributes', () => {
  it.each([
    ['GET', '/stats/summary', 'get', ['stats']],
    ['GET', '/stats', 'get', ['stats']],
    ['GET', '/metrics', 'get', ['metrics']],
    ['GET', '/metrics/cadvisor', 'get', ['metrics']],
    ['GET', '/metrics/probes', 'get', ['metrics']],
    ['GET', '/metricsfoo', 'get', ['proxy']],
    ['GET', '/logs/syslog', 'get', ['log']],
    ['POST', '/checkpoint/ns/pod/c', 'create', ['checkpoint']],
    ['GET', '/containerLogs/ns/pod/c', 'get', ['proxy']],
    ['POST', '/exec/ns/pod/c', 'create', ['proxy']],
    ['GET', '/pods', 'get', ['pods', 'proxy']],
    ['GET', '/runningpods/', 'get', ['pods', 'proxy']],
    ['GET', '/healthz', 'get', ['healthz', 'proxy']],
    ['GET', '/configz', 'get', ['configz', 'proxy']],
    ['GET', '/statsfoo', 'get', ['proxy']],
    ['DELETE', '/x', 'delete', ['proxy']],
    ['PUT', '/x', 'update', ['proxy']],
    ['PATCH', '/x', 'patch', ['proxy']],
    ['HEAD', '/x', '', ['proxy']],
  ])('requestAttributes - %s %s asks for verb "%s" on nodes/%s', (method, path, verb, subresources) => {
    expect(requestAttributes(method, path, 'node-a')).toEqual(subresources.map((subresource) => ({ verb, resource: 'nodes', subresource, name: 'node-a' })));
  });
});
