import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import { isBusServiceName } from '@splitlet/bus-auth';
import { startAuthNatsServer, type AuthNatsServer } from './nats-auth';
import { startNatsServer, type NatsServer } from './nats-server';
import { startServiceProcess } from './service-process';

/**
 * The behaviour every splitlet service shares, run against the service's real
 * bundle: it joins NATS as a micro service of its node, stops cleanly on SIGTERM,
 * and refuses a bad configuration with exit code 78 and the variable's name.
 */
export function describeServiceLifecycle(name: string, env: Record<string, string> = {}): void {
  describe(`${name} lifecycle`, () => {
    let server: NatsServer;
    let nc: NatsConnection;
    let secured: AuthNatsServer;
    beforeAll(async () => {
      [server, secured] = await Promise.all([startNatsServer(), startAuthNatsServer()]);
      nc = await connect({ servers: server.url });
    });
    afterAll(async () => {
      await nc?.close();
      await server?.stop();
      await secured?.stop();
    });

    if (isBusServiceName(name)) {
      it(`${name} - with its own credentials, joins a bus that requires them and uses nothing outside its permissions`, async () => {
        const creds = await secured.credsFile('node-1', name);
        const svc = startServiceProcess(name, { ...env, NATS_URL: secured.url, SPLITLET_NODE_NAME: 'node-1', SPLITLET_NATS_CREDS: creds });
        const admin = await secured.connectAdmin();
        try {
          await svc.waitForLog((l) => l['msg'] === 'started');
          const pings = [];
          for await (const p of await new Svcm(admin).client({ strategy: 'timer', maxWait: 1000 }).ping(name)) pings.push(p);
          expect(pings).toHaveLength(1);
          expect(pings[0]).toMatchObject({ name, metadata: { node: 'node-1' } });
          svc.kill('SIGTERM');
          expect(await svc.exited).toEqual({ code: 0, signal: null });
          // A permissions violation reaches the client as an error status, which the bus logs.
          expect(svc.logs.filter((l) => l['msg'] === 'NATS error')).toEqual([]);
          // The identity's secret never reaches the logs.
          const seed = (await readFile(creds, 'utf8')).match(/^SU[A-Z0-9]+$/m)?.[0];
          expect(seed).toBeDefined();
          expect(JSON.stringify(svc.logs) + svc.stderr()).not.toContain(seed);
        } finally {
          svc.kill('SIGKILL');
          await admin.close();
        }
      });

      it(`${name} - without credentials on a bus that requires them, exits 78 naming SPLITLET_NATS_CREDS`, async () => {
        const svc = startServiceProcess(name, { ...env, NATS_URL: secured.url, SPLITLET_NODE_NAME: 'node-1' });
        expect((await svc.exited).code).toBe(78);
        expect(svc.stderr()).toMatch(/requires credentials and none were given[\s\S]*SPLITLET_NATS_CREDS is not set/);
      });

      it(`${name} - with a file that is not a .creds file as its credentials, exits 78 naming SPLITLET_NATS_CREDS`, async () => {
        const dir = await mkdtemp(join(tmpdir(), 'splitlet-creds-'));
        try {
          const garbage = join(dir, 'garbage.creds');
          await writeFile(garbage, '-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUNOTASEED\n------END USER NKEY SEED------\n');
          const svc = startServiceProcess(name, { ...env, NATS_URL: secured.url, SPLITLET_NODE_NAME: 'node-1', SPLITLET_NATS_CREDS: garbage });
          expect((await svc.exited).code).toBe(78);
          expect(svc.stderr()).toMatch(/not a NATS user's \.creds file[\s\S]*SPLITLET_NATS_CREDS \(/);
          expect(svc.stderr()).not.toContain('SUNOTASEED');
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });

      it(`${name} - with credentials the bus does not trust, exits 78 naming SPLITLET_NATS_CREDS`, async () => {
        const stranger = await startAuthNatsServer();
        try {
          const creds = await stranger.credsFile('node-1', name);
          const svc = startServiceProcess(name, { ...env, NATS_URL: secured.url, SPLITLET_NODE_NAME: 'node-1', SPLITLET_NATS_CREDS: creds });
          expect((await svc.exited).code).toBe(78);
          expect(svc.stderr()).toMatch(/refused this service's credentials[\s\S]*SPLITLET_NATS_CREDS \(/);
        } finally {
          await stranger.stop();
        }
      });
    }

    it(`${name} - joins NATS as a micro service of its node and stops cleanly on SIGTERM`, async () => {
      const svc = startServiceProcess(name, { ...env, NATS_URL: server.url, SPLITLET_NODE_NAME: 'node-1' });
      try {
        await svc.waitForLog((l) => l['msg'] === 'started');
        const pings = [];
        for await (const p of await new Svcm(nc).client({ strategy: 'timer', maxWait: 1000 }).ping(name)) pings.push(p);
        expect(pings).toHaveLength(1);
        expect(pings[0]).toMatchObject({ name, metadata: { node: 'node-1' } });
        svc.kill('SIGTERM');
        expect(await svc.exited).toEqual({ code: 0, signal: null });
        expect(svc.logs.map((l) => l['msg'])).toContain('stopped');
      } finally {
        svc.kill('SIGKILL');
      }
    });

    it(`${name} - refuses a bad configuration with exit code 78, naming the variable`, async () => {
      const svc = startServiceProcess(name, { ...env, NATS_URL: server.url, SPLITLET_NODE_NAME: 'Not_A_Node' });
      expect((await svc.exited).code).toBe(78);
      expect(svc.stderr()).toMatch(/SPLITLET_NODE_NAME: must be a lower-case DNS-1123 subdomain.*"Not_A_Node"/);
    });

    if (env['KUBECONFIG']) {
      it(`${name} - refuses a kubeconfig it cannot read with exit code 78, naming it`, async () => {
        const svc = startServiceProcess(name, { ...env, NATS_URL: server.url, SPLITLET_NODE_NAME: 'node-1', KUBECONFIG: '/nonexistent/kubeconfig' });
        expect((await svc.exited).code).toBe(78);
        expect(svc.stderr()).toMatch(/KUBECONFIG: cannot load \/nonexistent\/kubeconfig: ENOENT/);
      });
    }

    it(`${name} - waits for a NATS server that is not up yet, and exits 0 on SIGTERM meanwhile`, async () => {
      const svc = startServiceProcess(name, { ...env, NATS_URL: 'nats://127.0.0.1:1', SPLITLET_NODE_NAME: 'node-1' });
      await svc.waitForLog((l) => l['msg'] === 'connecting to NATS');
      await new Promise((r) => setTimeout(r, 300));
      expect(svc.child.exitCode).toBeNull();
      svc.kill('SIGTERM');
      expect((await svc.exited).code).toBe(0);
    });
  });
}
