import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { serviceEnv } from './service-env';

const svc = (namespace: string, name: string, clusterIP: string | undefined, ports: { port: number; name?: string; protocol?: string }[]): V1Service => ({
  metadata: { namespace, name },
  spec: { clusterIP, ports },
});
const services: V1Service[] = [
  svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]),
  svc('default', 'other', '10.96.0.2', [{ port: 80 }]),
  svc('shop', 'redis-master', '10.0.0.11', [{ port: 6379 }]),
  svc('shop', 'web', '10.0.0.12', [{ port: 80, name: 'http' }, { port: 53, name: 'dns-udp', protocol: 'UDP' }]),
  svc('shop', 'headless', 'None', [{ port: 80 }]),
  svc('shop', 'external', undefined, []),
  svc('elsewhere', 'db', '10.0.0.13', [{ port: 5432 }]),
];
const podIn = (namespace: string, enableServiceLinks?: boolean): V1Pod => ({ metadata: { namespace, name: 'p' }, spec: { containers: [], enableServiceLinks } });

describe('pod-sync service environment variables', () => {
  it('serviceEnv - the docker-link variables of the namespace\'s services and of default/kubernetes, as the kubelet\'s envvars', () => {
    expect(Object.fromEntries(serviceEnv(podIn('shop', true), services))).toEqual({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
      REDIS_MASTER_SERVICE_HOST: '10.0.0.11',
      REDIS_MASTER_SERVICE_PORT: '6379',
      REDIS_MASTER_PORT: 'tcp://10.0.0.11:6379',
      REDIS_MASTER_PORT_6379_TCP: 'tcp://10.0.0.11:6379',
      REDIS_MASTER_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_MASTER_PORT_6379_TCP_PORT: '6379',
      REDIS_MASTER_PORT_6379_TCP_ADDR: '10.0.0.11',
      WEB_SERVICE_HOST: '10.0.0.12',
      WEB_SERVICE_PORT: '80',
      WEB_SERVICE_PORT_HTTP: '80',
      WEB_SERVICE_PORT_DNS_UDP: '53',
      WEB_PORT: 'tcp://10.0.0.12:80',
      WEB_PORT_80_TCP: 'tcp://10.0.0.12:80',
      WEB_PORT_80_TCP_PROTO: 'tcp',
      WEB_PORT_80_TCP_PORT: '80',
      WEB_PORT_80_TCP_ADDR: '10.0.0.12',
      WEB_PORT_53_UDP: 'udp://10.0.0.12:53',
      WEB_PORT_53_UDP_PROTO: 'udp',
      WEB_PORT_53_UDP_PORT: '53',
      WEB_PORT_53_UDP_ADDR: '10.0.0.12',
    });
  });

  it('serviceEnv - enableServiceLinks false (or another namespace\'s services): only the kubernetes service', () => {
    const keys = [...serviceEnv(podIn('shop', false), services).keys()];
    expect(keys.every((k) => k.startsWith('KUBERNETES_'))).toBe(true);
    expect(keys).toHaveLength(8);
    expect([...serviceEnv(podIn('empty'), services).keys()]).toEqual(keys);
  });

  it('serviceEnv - a pod in default sees all of default\'s services; unset enableServiceLinks is the API\'s default, true', () => {
    expect(serviceEnv(podIn('default'), services).get('OTHER_SERVICE_HOST')).toBe('10.96.0.2');
  });

  it('serviceEnv - the namespace\'s own kubernetes service wins over default\'s, in whatever order they are listed', () => {
    const mine = svc('shop', 'kubernetes', '10.0.0.99', [{ port: 8443 }]);
    for (const list of [[...services, mine], [mine, ...services]]) expect(serviceEnv(podIn('shop'), list).get('KUBERNETES_SERVICE_HOST')).toBe('10.0.0.99');
    expect(serviceEnv(podIn('shop', false), [mine, ...services]).get('KUBERNETES_SERVICE_HOST')).toBe('10.96.0.1');
  });

  it('serviceEnv - an IPv6 ClusterIP is bracketed in the URLs', () => {
    const env = serviceEnv(podIn('v6'), [svc('v6', 'api', 'fd00::1', [{ port: 80 }])]);
    expect(env.get('API_PORT')).toBe('tcp://[fd00::1]:80');
    expect(env.get('API_PORT_80_TCP_ADDR')).toBe('fd00::1');
  });
});
