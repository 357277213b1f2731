import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, methodSubject } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { runAll } from '@splitlet/service';
import { randomMessageBytes, SeededRandom, startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { startFakeDockerApi, type FakeDockerApi } from './__fixtures__/docker-api';
import { connectDocker } from './docker';
import { ImageServer } from './image-server';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

// Every endpoint of runtime-executor on a real nats-server, with the real dockerode
// talking to a Docker that holds nothing (answering as Docker's router does), fed
// random bytes and random messages of its request type whose fields are often
// hostile values. Fixed seed; FUZZ_SEED and FUZZ_N (messages of each sort per
// endpoint) run it otherwise (bench/ runs it longer).
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 60);

describe('runtime-executor - fuzz', () => {
  let h: ServiceHarness;
  let docker: FakeDockerApi;
  let abort: AbortController;
  let running: Promise<void>;

  beforeAll(async () => {
    docker = await startFakeDockerApi();
    h = await startServiceHarness('runtime-executor');
    h.container.registerInstance(RT.Docker, connectDocker(docker.host));
    h.container.registerInstance(RT.StatFs, async () => ({ bsize: 4096, blocks: 1, bfree: 1, bavail: 1, files: 1, ffree: 1 }));
    h.container.registerInstance(RT.PauseImage, 'splitlet-lab/pause:1');
    abort = new AbortController();
    running = runAll(h.container.resolve(RuntimeServer), h.container.resolve(ImageServer)).run(abort.signal);
    await h.nc.flush();
  });

  afterAll(async () => {
    abort.abort();
    await running;
    await h.close();
    await docker.close();
  });

  const endpoints = [RuntimeService, ImageService].flatMap((service) => service.methods.map((method) => ({ service, method })));

  for (const { service, method } of endpoints) {
    it(`${method.name} - answers every one of ${2 * N} random requests (seed ${SEED}) and keeps serving`, async () => {
      const r = new SeededRandom(SEED + method.name.length * 7919 + method.name.charCodeAt(0));
      const subject = methodSubject(h.nodeName, service, method.name);
      let answered = 0;
      let errors = 0;
      for (let i = 0; i < N; i++) {
        for (const payload of [r.bytes(r.int(0, 512)), randomMessageBytes(r, method.input)]) {
          // A reply (a message or an error header) within the timeout, or request() rejects.
          const reply = await h.peer.request(subject, payload, { timeout: 5000 });
          answered++;
          if (reply.headers?.get('Nats-Service-Error-Code')) errors++;
        }
      }
      expect(answered).toBe(2 * N);
      expect(errors).toBeGreaterThan(0);
      expect((await createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 2000 }).version({})).runtimeVersion).toBe('20.10.24');
    });
  }
});
