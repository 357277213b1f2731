import { afterEach, describe, expect, it } from 'vitest';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { openBucket } from '@splitlet/bus';
import { systemClock } from '@splitlet/service';
import { useNatsServer, waitFor } from '@splitlet/testing';
import type { Logger } from '@splitlet/telemetry';
import { PodAdmission } from './admission';
import { PodDecisions } from './pod-decisions';
import { AdmissionPendingError, rejectionOf, SharedAdmission } from './shared-admission';
import { safeSysctls, SysctlAllowlist } from './sysctls';

const logger = { info: () => undefined, debug: () => undefined, warn: () => undefined, error: () => undefined } as unknown as Logger;
const node: V1Node = { metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux' } }, status: { allocatable: { cpu: '1', memory: '4Gi', pods: '10' } } };
let seq = 0;
const podOf = (cpu: string, created: string): V1Pod => ({
  metadata: { name: `p${++seq}`, namespace: 'ns', uid: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`, creationTimestamp: new Date(created) },
  spec: { nodeName: 'n1', containers: [{ name: 'app', resources: { requests: { cpu } } }] },
});

describe('pod-sync SharedAdmission: the node admits through the replica that leads', () => {
  const nats = useNatsServer();
  const stops: AbortController[] = [];
  let bucketNo = 0;
  afterEach(() => stops.splice(0).forEach((s) => s.abort()));

  /** One replica over the shared bucket: its own PodAdmission and decisions, following the bucket until the test ends. */
  function replica(name: string, pods: () => V1Pod[], leads: () => boolean, waitMs = 3_000, settled = () => true) {
    // As container.ts wires it: a pod counts as finished once the replica syncing it said so.
    const local = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), { node: () => node, pods, finished: (p) => Boolean(decisions.admission(p.metadata?.uid ?? '')?.finished) });
    const decisions: PodDecisions = new PodDecisions(() => openBucket(nats.nc, name), { admission: (uid, d) => (d ? local.record(uid, rejectionOf(d)) : local.forget(uid)), eviction: () => undefined }, systemClock, logger);
    const stop = new AbortController();
    stops.push(stop);
    void decisions.run(stop.signal);
    return { admission: new SharedAdmission(local, decisions, leads, logger, waitMs, settled), decisions };
  }

  it("a replica that does not lead waits for the leader's decision, taken in creation order with every pod decided before counting, whoever syncs it", async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const first = podOf('600m', '2026-12-03T10:00:00Z');
    const second = podOf('600m', '2026-12-03T10:00:01Z');
    const pods = () => [first, second];
    const leader = replica(name, pods, () => true);
    const follower = replica(name, pods, () => false);
    // The follower syncs the second pod first: it waits for the leader.
    const waiting = follower.admission.admit(second);
    leader.admission.decideAhead(second, false);
    expect(await waiting).toEqual({ reason: 'OutOfcpu', message: "Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000" });
    // The first pod was decided ahead of it (created before it): admitted.
    expect(await follower.admission.admit(first)).toBeUndefined();
    expect(leader.admission.isAdmitted(first.metadata!.uid!)).toBe(true);
  });

  it('the next leader goes on from the decisions in the bucket: a pod admitted by the last one counts against a new one', async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const first = podOf('600m', '2026-12-03T10:00:00Z');
    const later = podOf('600m', '2026-12-03T10:00:05Z');
    let pods = [first];
    const old = replica(name, () => pods, () => true);
    expect(await old.admission.admit(first)).toBeUndefined();
    // Another replica that leads now: it has seen the first decision come through the bucket.
    const next = replica(name, () => pods, () => true);
    await waitFor('the decision seen', async () => (next.decisions.admission(first.metadata!.uid!) ? true : undefined), 5_000);
    pods = [first, later];
    expect((await next.admission.admit(later))?.reason).toBe('OutOfcpu');
  });

  it('a pod the replica syncing it says finished stops counting at the leader at once (the API\'s phase lags): the next pod fits', async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const done = podOf('600m', '2026-12-03T10:00:00Z');
    const next = podOf('600m', '2026-12-03T10:00:05Z');
    let pods = [done];
    const leader = replica(name, () => pods, () => true);
    const follower = replica(name, () => pods, () => false);
    expect(await leader.admission.admit(done)).toBeUndefined();
    await waitFor('the follower sees the decision', async () => (follower.decisions.admission(done.metadata!.uid!) ? true : undefined), 5_000);
    await follower.decisions.finished(done.metadata!.uid!);
    await waitFor('the leader sees it finished', async () => (leader.decisions.admission(done.metadata!.uid!)?.finished ? true : undefined), 5_000);
    pods = [done, next];
    expect(await leader.admission.admit(next)).toBeUndefined();
  });

  it("while some pods' state is unknown (a replica's shards wait for their next holder) a pod that does not fit is put off, not refused; one that fits is admitted", async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const first = podOf('600m', '2026-12-03T10:00:00Z');
    const big = podOf('600m', '2026-12-03T10:00:01Z');
    const small = podOf('300m', '2026-12-03T10:00:02Z');
    let settled = false;
    const leader = replica(name, () => [first, big, small], () => true, 3_000, () => settled);
    expect(await leader.admission.admit(first)).toBeUndefined();
    await expect(leader.admission.admit(big)).rejects.toBeInstanceOf(AdmissionPendingError);
    expect(leader.decisions.admission(big.metadata!.uid!)).toBeUndefined();
    expect(await leader.admission.admit(small)).toBeUndefined();
    settled = true;
    expect((await leader.admission.admit(big))?.reason).toBe('OutOfcpu');
  });

  it('no leader decides: the sync fails with AdmissionPendingError after the wait (and is retried); a pod the node started before counts as admitted at once', async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const p = podOf('100m', '2026-12-03T10:00:00Z');
    const follower = replica(name, () => [p], () => false, 300);
    await expect(follower.admission.admit(p)).rejects.toBeInstanceOf(AdmissionPendingError);
    expect(await follower.admission.admit({ ...p, status: { phase: 'Running', startTime: new Date('2026-12-03T10:00:02Z') } })).toBeUndefined();
  });

  it('garbage under a decision key counts as no decision; a decision forgotten with its pod is gone for every replica', async () => {
    const name = `PODSYNC_ADMIT_${++bucketNo}`;
    const p = podOf('100m', '2026-12-03T10:00:00Z');
    const kv = await openBucket(nats.nc, name);
    await kv.put(`admit.${p.metadata!.uid}`, new Uint8Array([0xff, 0xff]));
    const leader = replica(name, () => [p], () => true);
    const follower = replica(name, () => [p], () => false);
    await new Promise((r) => setTimeout(r, 200));
    expect(follower.decisions.admission(p.metadata!.uid!)).toBeUndefined();
    expect(await leader.admission.admit(p)).toBeUndefined();
    await waitFor('the follower sees it', async () => (follower.decisions.admission(p.metadata!.uid!)?.admitted ? true : undefined), 5_000);
    await leader.decisions.forget(p.metadata!.uid!);
    await waitFor('forgotten by the follower', async () => (follower.decisions.admission(p.metadata!.uid!) ? undefined : true), 5_000);
    expect(await kv.get(`admit.${p.metadata!.uid}`).then((e) => e?.operation)).not.toBe('PUT');
  });
});
