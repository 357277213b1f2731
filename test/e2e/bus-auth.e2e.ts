import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsConnection } from '@nats-io/transport-node';
import { createRpcClient, isPermissionDenied, kvPut, openBucket, podsViewBucket, podStatusSubject, publish } from '@splitlet/bus';
import { PodProbeViewSchema, RuntimeService, statusv1 } from '@splitlet/contracts';
import { connectToLabBus, labBusAuthDir, labBusEnv, labCredsFile, labEnv, removeLabNodeCreds, runCommand, startServiceProcess, workspaceRoot, type ServiceProcess } from '@splitlet/testing';

// The bus as an attacker on the node would try it (issue 14): a local user with no
// credentials, and a process holding the prober's credentials, against the lab's
// NATS (auth on) and a real runtime-executor.
const lab = labEnv();
const nodeName = `e2e-busauth-${randomBytes(3).toString('hex')}`;

/** Runs a snippet of JavaScript as uid 65534 (nobody), from the repo (its node_modules). */
function asNobody(script: string) {
  return runCommand('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script]);
}

describe('the bus as a trust boundary', () => {
  let executor: ServiceProcess;
  const conns: NatsConnection[] = [];
  const as = async (service: 'pod-sync' | 'prober' | 'registrar') => {
    const nc = await connectToLabBus(nodeName, service);
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    expect(labBusAuthDir(), "the lab's NATS runs with auth on (lab.sh up makes its keys)").toBeDefined();
    executor = startServiceProcess('runtime-executor', { SPLITLET_NODE_NAME: nodeName, ...(await labBusEnv(nodeName, 'runtime-executor')), SPLITLET_PAUSE_IMAGE: 'splitlet-lab/pause:1' });
    await executor.waitForLog((l) => l['msg'] === 'started', 30_000);
  });
  afterAll(async () => {
    executor?.kill('SIGTERM');
    await executor?.exited;
    await Promise.all(conns.map((c) => c.close()));
    await Promise.all([nodeName, `${nodeName}-b`].map(removeLabNodeCreds));
  });

  it('bus - a local user without credentials can neither connect nor read a service\'s credentials', async () => {
    const transport = join(workspaceRoot(), 'node_modules/@nats-io/transport-node/lib/mod.js');
    // The lab CA's certificate is public (nobody cannot read the pki folder: it is inlined).
    const tls = lab.natsCa ? { ca: await readFile(lab.natsCa, 'utf8') } : undefined;
    const r = await asNobody(
      `const { connect } = await import(${JSON.stringify(transport)});
       try { await connect({ servers: ${JSON.stringify(lab.natsUrl)}, reconnect: false, tls: ${JSON.stringify(tls)} }); console.log('connected'); }
       catch (e) { console.log(e.constructor.name); }`,
    );
    expect(r.stdout.trim()).toBe('AuthorizationError');
    const creds = (await labCredsFile(nodeName, 'pod-sync'))!;
    const read = await asNobody(`import { readFileSync } from 'node:fs'; try { readFileSync(${JSON.stringify(creds)}); console.log('read'); } catch (e) { console.log(e.code); }`);
    expect(read.stdout.trim()).toBe('EACCES');
  });

  it('bus - pod-sync lists the node\'s containers; the registrar reads the runtime\'s version', async () => {
    expect((await createRpcClient(await as('pod-sync'), nodeName, RuntimeService).listContainers({})).containers).toEqual([]);
    expect((await createRpcClient(await as('registrar'), nodeName, RuntimeService).version({ version: 'v1' })).runtimeName).toBe('docker');
  });

  it('bus - with the prober\'s credentials: no container created, no pod status published, no pods view written', async () => {
    const prober = await as('prober');
    const err = await createRpcClient(prober, nodeName, RuntimeService)
      .createContainer({ podSandboxId: 'x', config: { metadata: { name: 'evil' }, image: 'splitlet-lab/testbox:1' } })
      .catch((e: unknown) => e);
    expect(isPermissionDenied(err)).toBe(true);

    const violations: string[] = [];
    void (async () => {
      for await (const s of prober.status()) if (s.type === 'error') violations.push(String(s.error));
    })();
    await publish(prober, podStatusSubject(nodeName, 'forged'), statusv1.PodStatusUpdateSchema, { podUid: 'forged', version: 1n });
    await prober.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(violations.join('\n')).toMatch(/Permissions Violation for Publish to "splitlet\.[^"]+\.status\.v1\.pod\.\d\.forged"/);

    const pods = await openBucket(prober, podsViewBucket(nodeName));
    await expect(kvPut(pods, 'forged', PodProbeViewSchema, { podUid: 'forged', name: 'x' })).rejects.toThrow(/Permissions Violation/);
    // Docker holds nothing of this node: nothing was created.
    expect((await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${nodeName}`])).stdout.trim()).toBe('');
  });

  it("bus - another node's pod-sync cannot call this node's runtime", async () => {
    const nc = await connectToLabBus(`${nodeName}-b`, 'pod-sync');
    conns.push(nc);
    const err = await createRpcClient(nc, nodeName, RuntimeService)
      .listContainers({})
      .catch((e: unknown) => e);
    expect(isPermissionDenied(err)).toBe(true);
  });
});
