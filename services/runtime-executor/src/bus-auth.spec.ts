import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, isPermissionDenied } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { startAuthNatsServer, startServiceProcess, type AuthNatsServer, type ServiceProcess } from '@splitlet/testing';

// The real runtime-executor on a bus with auth on: it answers the identities the
// permission table lets call it, and the others never reach it.
const NODE = 'node-1';

describe('runtime-executor on a bus with auth on', () => {
  let server: AuthNatsServer;
  let executor: ServiceProcess;
  beforeAll(async () => {
    server = await startAuthNatsServer();
    executor = startServiceProcess('runtime-executor', { NATS_URL: server.url, SPLITLET_NODE_NAME: NODE, SPLITLET_NATS_CREDS: await server.credsFile(NODE, 'runtime-executor') });
    await executor.waitForLog((l) => l['msg'] === 'started', 20_000);
  });
  afterAll(async () => {
    executor?.kill('SIGTERM');
    await executor?.exited;
    await server?.stop();
  });

  it("runtime-executor - answers the registrar's Version and pod-sync's ListContainers", async () => {
    const registrar = await server.connectAs(NODE, 'registrar');
    const podSync = await server.connectAs(NODE, 'pod-sync');
    try {
      expect((await createRpcClient(registrar, NODE, RuntimeService).version({ version: 'v1' })).runtimeName).toBe('docker');
      expect(Array.isArray((await createRpcClient(podSync, NODE, RuntimeService).listContainers({ filter: { labelSelector: { 'splitlet.test': 'none' } } })).containers)).toBe(true);
    } finally {
      await registrar.close();
      await podSync.close();
    }
  });

  it("runtime-executor - the prober's CreateContainer and another node's ListContainers are refused before they reach it", async () => {
    const prober = await server.connectAs(NODE, 'prober');
    const other = await server.connectAs('node-2', 'pod-sync');
    try {
      const created = await createRpcClient(prober, NODE, RuntimeService).createContainer({ podSandboxId: 'x', config: { metadata: { name: 'evil' }, image: 'busybox' } }).catch((e: unknown) => e);
      expect(isPermissionDenied(created)).toBe(true);
      const listed = await createRpcClient(other, NODE, RuntimeService).listContainers({}).catch((e: unknown) => e);
      expect(isPermissionDenied(listed)).toBe(true);
    } finally {
      await prober.close();
      await other.close();
    }
  });
});
