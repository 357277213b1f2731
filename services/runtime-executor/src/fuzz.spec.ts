import { beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, methodSubject } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { randomMessageBytes, SeededRandom, type ServiceHarness } from '@splitlet/testing';
import { useExecutorOnFakeDocker } from './__fixtures__/executor';

// Every endpoint of runtime-executor on a real nats-server, with the real dockerode
// talking to a Docker that holds nothing (answering as Docker's router does), fed
// random bytes and random messages of its request type whose fields are often
// hostile values. Fixed seed; FUZZ_SEED and FUZZ_N (messages of each sort per
// endpoint) run it otherwise (bench/ runs it longer).
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 60);

describe('runtime-executor - fuzz', () => {
  let h: ServiceHarness;
  const executor = useExecutorOnFakeDocker();
  beforeAll(() => {
    h = executor.harness();
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
