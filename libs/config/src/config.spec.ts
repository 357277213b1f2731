import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { commonSchema, type ConfigError, isConfigError, loadConfig } from './config';

describe('config', () => {
  it('loadConfig - applies defaults for unset and empty variables', () => {
    const cfg = loadConfig(commonSchema, { SPLITLET_NODE_NAME: 'node-a', NATS_URL: '' });
    expect(cfg.NATS_URL).toEqual(['nats://127.0.0.1:4222']);
    expect(cfg.LOG_LEVEL).toBe('info');
    expect(cfg.SPLITLET_NODE_NAME).toBe('node-a');
  });

  it('loadConfig - splits a NATS server list', () => {
    const cfg = loadConfig(commonSchema, { SPLITLET_NODE_NAME: 'n', NATS_URL: 'nats://a:4222, tls://b:4443' });
    expect(cfg.NATS_URL).toEqual(['nats://a:4222', 'tls://b:4443']);
  });

  it('loadConfig - reports every bad value by name with what was given', () => {
    let err: unknown;
    try {
      loadConfig(commonSchema, { SPLITLET_NODE_NAME: 'Bad_Name', NATS_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    const issues = (err as ConfigError).issues.join('\n');
    expect(issues).toMatch(/^SPLITLET_NODE_NAME: must be a lower-case DNS-1123 subdomain.*\(got "Bad_Name"\)$/m);
    expect(issues).toMatch(/^NATS_URL: .*nats:.*\(got "http:\/\/x"\)$/m);
    expect(issues).toMatch(/^LOG_LEVEL: .*\(got "loud"\)$/m);
  });

  it('loadConfig - takes a readable credentials file and refuses a missing one by name', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'splitlet-config-')), 'prober.creds');
    await writeFile(file, 'creds', { mode: 0o600 });
    expect(loadConfig(commonSchema, { SPLITLET_NATS_CREDS: file }).SPLITLET_NATS_CREDS).toBe(file);
    expect(loadConfig(commonSchema, {}).SPLITLET_NATS_CREDS).toBeUndefined();
    let err: ConfigError | undefined;
    try {
      loadConfig(commonSchema, { SPLITLET_NATS_CREDS: '/nonexistent/prober.creds' });
    } catch (e) {
      if (isConfigError(e)) err = e;
    }
    expect(err?.issues).toEqual([expect.stringMatching(/^SPLITLET_NATS_CREDS: cannot read the credentials file .*"\/nonexistent\/prober.creds"/)]);
  });

  it('loadConfig - extends the common schema per service', () => {
    const schema = commonSchema.extend({ PORT: z.coerce.number().int().min(1).max(65535) });
    expect(() => loadConfig(schema, { SPLITLET_NODE_NAME: 'n', PORT: '70000' })).toThrow(/PORT: .*70000/);
    expect(loadConfig(schema, { SPLITLET_NODE_NAME: 'n', PORT: '8080' }).PORT).toBe(8080);
  });
});
