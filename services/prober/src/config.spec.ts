import { describe, expect, it } from 'vitest';
import { isConfigError, loadConfig } from '@splitlet/config';
import { configSchema } from './config';

describe('prober config', () => {
  it('config - defaults: a random replica id, a 1 s heartbeat and a 3 s TTL', () => {
    const a = loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1' });
    const b = loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1' });
    expect(a.SPLITLET_PROBER_REPLICA_ID).toMatch(/^prober-[0-9a-f]{8}$/);
    expect(a.SPLITLET_PROBER_REPLICA_ID).not.toBe(b.SPLITLET_PROBER_REPLICA_ID);
    expect(a).toMatchObject({ SPLITLET_PROBER_HEARTBEAT_MS: 1000, SPLITLET_PROBER_REPLICA_TTL_MS: 3000 });
  });

  it('config - refuses an id that is not a KV key token, and a TTL not longer than the heartbeat', () => {
    const bad = (env: Record<string, string>) => {
      try {
        loadConfig(configSchema, { SPLITLET_NODE_NAME: 'n1', ...env });
      } catch (err) {
        if (isConfigError(err)) return err.message;
      }
      return 'accepted';
    };
    expect(bad({ SPLITLET_PROBER_REPLICA_ID: 'a.b' })).toMatch(/SPLITLET_PROBER_REPLICA_ID: must be a KV key token/);
    expect(bad({ SPLITLET_PROBER_HEARTBEAT_MS: '3000' })).toMatch(/SPLITLET_PROBER_REPLICA_TTL_MS: must be longer than SPLITLET_PROBER_HEARTBEAT_MS/);
    expect(bad({ SPLITLET_PROBER_REPLICA_ID: 'prober-0' })).toBe('accepted');
  });
});
