import { readFileSync } from 'node:fs';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { inject, injectable } from 'tsyringe';
import { containerEnv, envObjectNames, type EnvContext, type EnvObjects, type SkippedEnvKeys } from './env';
import { ensureHostsFile, hostsFileContent } from './etc-hosts';
import type { DnsSettings } from './runtime-config';
import { serviceEnv, type ServiceSource } from './service-env';
import { terminationMessageFile } from './termination-message';
import { SYNC } from './tokens';
import { ContainerConfigError, isObjectNotFound } from './volumes/errors';
import { isStaticPod } from './static-pods';
import type { ObjectSource } from './volumes/objects';
import type { CriMount, PodEventSink, VolumeManager } from './volumes/volume-manager';

/** What a container's runtime config needs from outside the pod spec: its env and its mounts. */
export interface ContainerInputsResult {
  envs: { key: string; value: string }[];
  mounts: CriMount[];
}

/**
 * Resolves a container's env (reading the ConfigMaps and Secrets it names, by name,
 * and the service variables of its namespace) and its volume mounts, just before the
 * container is created. Throws a
 * ContainerConfigError (the waiting reason CreateContainerConfigError) when an
 * object or key it needs is missing; the next sync tries again, so the container
 * starts by itself once the object appears.
 */
@injectable()
export class ContainerInputs {
  constructor(
    @inject(SYNC.Objects) private readonly objects: ObjectSource,
    @inject(SYNC.Volumes) private readonly volumes: VolumeManager,
    @inject(SYNC.PodEvents) private readonly record: PodEventSink,
    @inject(SYNC.Dns) private readonly dns: DnsSettings,
    @inject(SYNC.Services) private readonly services: ServiceSource,
  ) {}

  async resolve(pod: V1Pod, c: V1Container, ctx: EnvContext): Promise<ContainerInputsResult> {
    const objects = await this.fetch(pod, c);
    const skipped: SkippedEnvKeys[] = [];
    const envs = containerEnv(pod, c, ctx, objects, skipped);
    const ns = pod.metadata?.namespace ?? '';
    for (const s of skipped) {
      this.record(pod, 'Warning', 'InvalidEnvironmentVariableNames', `Keys [${s.keys.join(', ')}] from the EnvFrom ${s.kind} ${ns}/${s.name} were skipped since they are considered invalid environment variable names.`);
    }
    const mounts = await this.volumes.mountsFor(pod, c, envs);
    // The termination message file, bound where the container writes it (kubelet's makeMounts).
    const path = c.terminationMessagePath ?? '/dev/termination-log';
    if (path && !mounts.some((m) => m.containerPath === path)) {
      mounts.push({ containerPath: path, hostPath: terminationMessageFile(this.volumes.podDir(pod.metadata!.uid!), c.name), readonly: false });
    }
    // The kubelet's managed /etc/hosts (makeMounts), unless the container mounts its own.
    if (ctx.podIP && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
      const content = hostsFileContent(pod, [ctx.podIP], this.dns.clusterDomain, () => readFileSync('/etc/hosts', 'utf8'));
      mounts.push({ containerPath: '/etc/hosts', hostPath: ensureHostsFile(this.volumes.podDir(pod.metadata!.uid!), content), readonly: false });
    }
    return { envs, mounts };
  }

  private async fetch(pod: V1Pod, c: V1Container): Promise<EnvObjects> {
    // As the kubelet's makeEnvironmentVariables: no env before the Services have been
    // listed once, or a container could start without KUBERNETES_SERVICE_HOST.
    // Not for a static pod, which runs without the API server (makeEnvironmentVariables).
    if (!isStaticPod(pod) && !this.services.hasSynced) throw new ContainerConfigError('services have not yet been read at least once, cannot construct envvars');
    const ns = pod.metadata!.namespace!;
    const names = envObjectNames(c);
    const orMissing = <T>(p: Promise<T>) =>
      p.catch((err: unknown) => {
        if (isObjectNotFound(err)) return undefined;
        throw new ContainerConfigError((err as Error).message);
      });
    const configMaps = new Map(await Promise.all([...names.configMaps].map(async (n) => [n, await orMissing(this.objects.configMap(ns, n))] as const)));
    const secrets = new Map(await Promise.all([...names.secrets].map(async (n) => [n, await orMissing(this.objects.secret(ns, n))] as const)));
    return { configMaps, secrets, services: serviceEnv(pod, this.services.list()) };
  }
}
