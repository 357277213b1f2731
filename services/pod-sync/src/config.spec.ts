import { describe, expect, it } from 'vitest';
import { isConfigError, loadConfig } from '@splitlet/config';
import { commaList, configSchema } from './config';

describe('pod-sync config', () => {
  const bad = (env: Record<string, string>) => {
    try {
      loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1', ...env });
    } catch (err) {
      if (isConfigError(err)) return err.message;
    }
    return 'accepted';
  };

  it('config - SPLITLET_ALLOWED_UNSAFE_SYSCTLS: none by default; names and prefixes of namespaced sysctls', () => {
    expect(loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1' }).SPLITLET_ALLOWED_UNSAFE_SYSCTLS).toBe('');
    expect(commaList(loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1', SPLITLET_ALLOWED_UNSAFE_SYSCTLS: 'kernel.msg*, net.core.somaxconn' }).SPLITLET_ALLOWED_UNSAFE_SYSCTLS)).toEqual(['kernel.msg*', 'net.core.somaxconn']);
  });

  it('config - refuses a sysctl pattern the kubelet would refuse to start with', () => {
    expect(bad({ SPLITLET_ALLOWED_UNSAFE_SYSCTLS: 'vm.swappiness' })).toMatch(/SPLITLET_ALLOWED_UNSAFE_SYSCTLS: the sysctls "vm.swappiness" are not known to be namespaced/);
    expect(bad({ SPLITLET_ALLOWED_UNSAFE_SYSCTLS: 'kernel.msgmax,Bad Name' })).toMatch(/SPLITLET_ALLOWED_UNSAFE_SYSCTLS: sysctl "Bad Name" must have at most 253 characters/);
  });
});
