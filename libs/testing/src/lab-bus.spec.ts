import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateAuthority } from '@splitlet/bus-auth';
import { labCredsFile, removeLabNodeCreds } from './lab-bus';

describe('testing lab bus credentials', () => {
  let state: string;
  const saved = { auth: process.env['LAB_NATS_AUTH_DIR'], node: process.env['LAB_NODE_NAME'] };
  beforeEach(async () => {
    state = await mkdtemp(join(tmpdir(), 'lab-bus-'));
    await loadOrCreateAuthority(state);
    process.env['LAB_NATS_AUTH_DIR'] = state;
    process.env['LAB_NODE_NAME'] = 'lab.node';
  });
  afterEach(async () => {
    for (const [k, v] of [['LAB_NATS_AUTH_DIR', saved.auth], ['LAB_NODE_NAME', saved.node]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await rm(state, { recursive: true, force: true });
  });

  it("removeLabNodeCreds - a test node's folder of .creds goes; a later start mints them again", async () => {
    const file = (await labCredsFile('e2e-x-1a2b3c', 'pod-sync'))!;
    expect(existsSync(file)).toBe(true);
    await removeLabNodeCreds('e2e-x-1a2b3c');
    expect(existsSync(join(state, 'creds', 'e2e-x-1a2b3c'))).toBe(false);
    expect(existsSync(join(state, 'creds'))).toBe(true);
    expect(await labCredsFile('e2e-x-1a2b3c', 'pod-sync')).toBe(file);
    expect(existsSync(file)).toBe(true);
  });

  it("removeLabNodeCreds - never the lab's own node's (node.sh runs it with them)", async () => {
    const own = join(state, 'creds', 'lab_node');
    await mkdir(own, { recursive: true });
    await writeFile(join(own, 'pod-sync.creds'), 'x');
    await removeLabNodeCreds('lab.node');
    expect(existsSync(join(own, 'pod-sync.creds'))).toBe(true);
  });
});
