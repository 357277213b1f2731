import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import type { V1NodeStatus } from '@kubernetes/client-node';
import { Svcm, type Service } from '@nats-io/services';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { methodSubject } from '@splitlet/bus';
import {
  create,
  FilesystemUsageSchema,
  ImageFsInfoResponseSchema,
  ContainerStatusSchema,
  ImageSchema,
  ImageService,
  ListContainersResponseSchema,
  ListImagesResponseSchema,
  ListPodSandboxResponseSchema,
  PodSandboxStatusSchema,
  RuntimeService,
  StatusResponseSchema,
  toBinary,
  VersionResponseSchema,
} from '@splitlet/contracts';
import { parseQuantity } from '@splitlet/quantity';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock, HOSTILE_STRINGS, randomMessageBytes, SeededRandom, useNatsServer, waitFor } from '@splitlet/testing';
import { FakeNodeApi } from './__fixtures__/fake-node-api';
import { HEALTHY_RUNTIME_ANSWERS } from './__fixtures__/runtime-answers';
import { DEFAULT_EVICTION_HARD, parseThresholds } from '@splitlet/eviction';
import { BusNodeInputs, type InputSettings } from './inputs';
import { NodeStatusManager, type RegistrarTiming } from './node-status-manager';
import { REG } from './tokens';

// registrar's runtime inputs on a real nats-server: a fake runtime-executor of the
// node answers Version, Status, ListImages and ImageFsInfo with random bytes, random
// messages and hostile ones that decode (sizes and capacities of 2^64 - 1, more free
// than there is, 4 KiB names). registrar must not crash, and every Node status it
// writes (the fake API server's Node: what `kubectl get node -o yaml` would show) is
// one the API server takes and a user can read: quantities of 0 to int64, image
// sizes that are int64, conditions True/False/Unknown. Once the runtime answers
// sanely the node is Ready with its values. Fixed seed; FUZZ_SEED and FUZZ_N run it otherwise.
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 200);

const NODE = 'fuzz-node';
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

type Answer = () => Uint8Array;
const GOOD: Record<keyof typeof HEALTHY_RUNTIME_ANSWERS, Answer> = HEALTHY_RUNTIME_ANSWERS;
type Method = keyof typeof GOOD;
const SCHEMAS = {
  Version: VersionResponseSchema,
  Status: StatusResponseSchema,
  ListImages: ListImagesResponseSchema,
  ImageFsInfo: ImageFsInfoResponseSchema,
  ListPodSandbox: ListPodSandboxResponseSchema,
  ListContainers: ListContainersResponseSchema,
} as const;

const huge = (r: SeededRandom) => r.pick([0n, 1n, INT64_MAX, INT64_MAX + 1n, UINT64_MAX, 2n ** 53n + 1n]);

/** An answer that decodes, with values a runtime should never send. */
function hostile(r: SeededRandom, m: Method): Uint8Array {
  switch (m) {
    case 'Version':
      return toBinary(VersionResponseSchema, create(VersionResponseSchema, { version: r.pick(HOSTILE_STRINGS), runtimeName: r.pick(HOSTILE_STRINGS), runtimeVersion: r.pick(HOSTILE_STRINGS), runtimeApiVersion: r.pick(HOSTILE_STRINGS) }));
    case 'Status':
      return toBinary(
        StatusResponseSchema,
        create(StatusResponseSchema, { status: { conditions: Array.from({ length: r.int(0, 4) }, () => ({ type: r.pick(['RuntimeReady', 'NetworkReady', ...HOSTILE_STRINGS]), status: r.next() < 0.5, reason: r.pick(HOSTILE_STRINGS), message: r.pick(HOSTILE_STRINGS) })) } }),
      );
    case 'ListImages':
      return toBinary(
        ListImagesResponseSchema,
        create(ListImagesResponseSchema, {
          images: Array.from({ length: r.int(0, 60) }, () =>
            create(ImageSchema, { id: r.pick(HOSTILE_STRINGS), repoTags: Array.from({ length: r.int(0, 8) }, () => r.pick(HOSTILE_STRINGS)), repoDigests: [r.pick(HOSTILE_STRINGS)], size: huge(r) }),
          ),
        }),
      );
    case 'ListPodSandbox':
      return toBinary(ListPodSandboxResponseSchema, create(ListPodSandboxResponseSchema, { items: Array.from({ length: r.int(0, 4) }, () => create(PodSandboxStatusSchema, { id: r.pick(HOSTILE_STRINGS), createdAt: r.pick([-1n, 0n, INT64_MAX]) })) }));
    case 'ListContainers':
      return toBinary(ListContainersResponseSchema, create(ListContainersResponseSchema, { containers: Array.from({ length: r.int(0, 4) }, () => create(ContainerStatusSchema, { id: r.pick(HOSTILE_STRINGS), image: r.pick(HOSTILE_STRINGS), createdAt: r.pick([-1n, 0n, INT64_MAX]) })) }));
    case 'ImageFsInfo':
      return toBinary(
        ImageFsInfoResponseSchema,
        create(ImageFsInfoResponseSchema, {
          imageFilesystems: Array.from({ length: r.int(0, 2) }, () =>
            create(FilesystemUsageSchema, { mountpoint: r.pick(HOSTILE_STRINGS), timestamp: -1n, capacityBytes: huge(r), availableBytes: huge(r), usedBytes: huge(r), inodes: huge(r), inodesFree: huge(r) }),
          ),
        }),
      );
  }
}

/** What is wrong in a Node status a user would read, or nothing. */
function insane(status: V1NodeStatus | undefined): string[] {
  const out: string[] = [];
  if (!status) return ['no status'];
  const json = JSON.stringify(status);
  if (/NaN|Infinity/.test(json)) out.push(`NaN or Infinity in ${json.slice(0, 200)}`);
  for (const [field, list] of [
    ['capacity', status.capacity],
    ['allocatable', status.allocatable],
  ] as const)
    for (const [k, v] of Object.entries(list ?? {})) {
      let milli: bigint;
      try {
        milli = parseQuantity(v);
      } catch {
        out.push(`${field}.${k} ${v} is no quantity`);
        continue;
      }
      if (milli < 0n || milli / 1000n > INT64_MAX) out.push(`${field}.${k} ${v} is outside 0..int64`);
    }
  for (const [k, v] of Object.entries(status.allocatable ?? {})) {
    const cap = status.capacity?.[k];
    if (cap !== undefined && parseQuantity(v) > parseQuantity(cap)) out.push(`allocatable.${k} ${v} above capacity ${cap}`);
  }
  for (const i of status.images ?? []) if (!Number.isSafeInteger(i.sizeBytes) || (i.sizeBytes ?? 0) < 0) out.push(`image ${i.names?.[0]?.slice(0, 40)} sizeBytes ${i.sizeBytes}`);
  if ((status.images?.length ?? 0) > 50) out.push(`${status.images?.length} images`);
  for (const c of status.conditions ?? []) if (!['True', 'False', 'Unknown'].includes(c.status)) out.push(`condition ${c.type} ${c.status}`);
  return out;
}

describe('registrar - fuzz', () => {
  const nats = useNatsServer();
  let runtimeNc: NatsConnection;
  let podSync: Service;
  const subs: Subscription[] = [];
  let answers: Record<Method, Answer> = { ...GOOD };
  let api: FakeNodeApi;
  let manager: NodeStatusManager;
  const clock = new FakeClock(Date.UTC(2026, 11, 3, 12));

  beforeAll(async () => {
    runtimeNc = await connect({ servers: nats.server.url });
    // The runtime's four subjects, answered with whatever the round says (raw bytes, not the micro protocol's framing).
    for (const [service, methods] of [
      [RuntimeService, ['Version', 'Status', 'ListPodSandbox', 'ListContainers']],
      [ImageService, ['ListImages', 'ImageFsInfo']],
    ] as const)
      for (const m of methods) subs.push(runtimeNc.subscribe(methodSubject(NODE, service, m), { callback: (_err, msg) => void msg.respond(answers[m]()) }));
    // A pod-sync of the node answers PING, so only the runtime's answers decide Ready.
    podSync = await new Svcm(runtimeNc).add({ name: 'pod-sync', version: '0.0.1', metadata: { node: NODE } });
    await runtimeNc.flush();

    api = new FakeNodeApi();
    const c = container.createChildContainer();
    c.registerInstance(TOKENS.Nats, nats.nc);
    c.registerInstance(TOKENS.NodeName, NODE);
    c.registerInstance(TOKENS.Logger, createLogger('registrar-fuzz', { level: 'silent' }));
    c.registerInstance(TOKENS.Config, { SPLITLET_HOST_ROOT: '/', SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: 100, SPLITLET_NODE_REQUIRED_SERVICES: ['pod-sync'] } satisfies InputSettings);
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(REG.NodeApi, api);
    c.registerInstance(REG.StatusSettings, { nodeName: NODE, kubeletVersion: 'v0.1.0', kubeletPort: 10250, maxPods: 110, systemReserved: {}, kubeReserved: {}, evictionHard: parseThresholds(DEFAULT_EVICTION_HARD) });
    c.registerInstance(REG.Shutdown, { shuttingDown: () => false });
    c.registerInstance(REG.Inputs, c.resolve(BusNodeInputs));
    c.registerInstance(REG.Timing, { updateFrequencyMs: 10_000, reportFrequencyMs: 300_000, leaseDurationSeconds: 40 } satisfies RegistrarTiming);
    c.registerInstance(REG.NodeEvents, () => undefined);
    c.registerInstance(REG.Identity, { labels: { 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' }, taints: [] });
    manager = c.resolve(NodeStatusManager);
    await manager.register();
  });
  afterAll(async () => {
    for (const s of subs) s.unsubscribe();
    await podSync?.stop();
    await runtimeNc?.close();
  });

  it(`runtime answers - ${N} rounds of random bytes, random and hostile messages to Version, Status, ListImages, ImageFsInfo and the relist's ListPodSandbox and ListContainers (seed ${SEED}): every Node status written is sane; Ready with the runtime's values once it answers sanely`, async () => {
    const r = new SeededRandom(SEED);
    expect(insane(api.nodes.get(NODE)?.status)).toEqual([]);
    const problems: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const round: Record<string, Answer> = {};
      for (const m of Object.keys(GOOD) as Method[]) {
        const kind = r.int(0, 3);
        const bytes = kind === 0 ? r.bytes(r.int(0, 256)) : kind === 1 ? randomMessageBytes(r, SCHEMAS[m]) : kind === 2 ? hostile(r, m) : GOOD[m]();
        round[m] = () => bytes;
      }
      answers = round as Record<Method, Answer>;
      await clock.advance(10_000);
      await manager.sync();
      for (const p of insane(api.nodes.get(NODE)?.status)) problems.push(`round ${i}: ${p}`);
    }
    const kinds = [...new Set(problems.map((p) => p.replace(/^round \d+: /, '').replace(/image .* sizeBytes/, 'image sizeBytes').replace(/ \S+ is /, ' is ').replace(/[0-9.]+(e\+\d+)?/g, '#')))];
    expect(kinds, `${problems.length} insane statuses, e.g. ${problems.slice(0, 3).join('; ')}`).toEqual([]);

    // Sane answers: Ready once a relist has succeeded (it runs beside the updates, as the kubelet's PLEG does).
    answers = { ...GOOD };
    const status = await waitFor('Ready once the runtime answers sanely', async () => {
      await clock.advance(10_000);
      await manager.sync();
      const s = api.nodes.get(NODE)!.status!;
      return s.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? s : undefined;
    });
    expect(insane(status)).toEqual([]);
    expect(status.capacity?.['ephemeral-storage']).toBe('100Gi');
    expect(status.images?.map((i) => i.sizeBytes)).toEqual([700_000]);
    expect(status.nodeInfo?.containerRuntimeVersion).toBe('docker://20.10.24');
    console.info(`registrar fuzz: seed ${SEED}, ${N} rounds (${Object.keys(GOOD).length * N} answers) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 120_000);
});
