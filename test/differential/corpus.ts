import type { V1Container, V1PodSpec } from '@kubernetes/client-node';

// The differential corpus (issue 18): each case is one pod spec run on a splitlet
// node and on the reference kubelet at the same time; `settle` says when its status
// and Events are compared.
export type Settle =
  /** Once the phase is Succeeded or Failed (and stays so for a moment). */
  | { kind: 'terminal' }
  /** Once the pod is Ready. */
  | { kind: 'ready' }
  /** At a fixed time after both pods were created (crash loops, pods that wait). */
  | { kind: 'checkpoint'; afterMs: number };

export interface Case {
  name: string;
  /** What it covers, for the report. */
  what: string;
  spec: Omit<V1PodSpec, 'nodeName'>;
  settle: Settle;
}

const IMAGE = 'splitlet-lab/testbox:1';
const c = (name: string, command: string, extra: Partial<V1Container> = {}): V1Container => ({
  name,
  image: IMAGE,
  imagePullPolicy: 'IfNotPresent',
  command: ['sh', '-c', command],
  ...extra,
});
const pod = (containers: V1Container[], extra: Partial<V1PodSpec> = {}): Omit<V1PodSpec, 'nodeName'> => ({
  terminationGracePeriodSeconds: 2,
  containers,
  ...extra,
});
const exec = (command: string, extra: Record<string, number> = {}) => ({ exec: { command: ['sh', '-c', command] }, periodSeconds: 1, ...extra });

export const CORPUS: Case[] = [
  // restart policy × exit code
  { name: 'never-exit0', what: 'restartPolicy Never, exit 0', spec: pod([c('app', 'exit 0')], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  { name: 'never-exit3', what: 'restartPolicy Never, exit 3', spec: pod([c('app', 'exit 3')], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  { name: 'onfailure-exit0', what: 'restartPolicy OnFailure, exit 0', spec: pod([c('app', 'exit 0')], { restartPolicy: 'OnFailure' }), settle: { kind: 'terminal' } },
  { name: 'onfailure-crashloop', what: 'restartPolicy OnFailure, exit 1: crash loop (checkpoint 25 s)', spec: pod([c('app', 'exit 1')], { restartPolicy: 'OnFailure' }), settle: { kind: 'checkpoint', afterMs: 25_000 } },
  { name: 'always-exit0', what: 'restartPolicy Always, exit 0: restarted (checkpoint 25 s)', spec: pod([c('app', 'exit 0')]), settle: { kind: 'checkpoint', afterMs: 25_000 } },
  { name: 'running', what: 'a container that runs', spec: pod([c('app', 'sleep 3600')]), settle: { kind: 'ready' } },
  { name: 'two-containers-one-fails', what: 'Never: one container exits 0, the other 2', spec: pod([c('a', 'exit 0'), c('b', 'sleep 1; exit 2')], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  // init containers and sidecars
  { name: 'init-ok', what: 'an init container that succeeds, then the app', spec: pod([c('app', 'sleep 3600')], { initContainers: [c('init', 'exit 0')] }), settle: { kind: 'ready' } },
  { name: 'init-fails-never', what: 'an init container that fails, restartPolicy Never', spec: pod([c('app', 'sleep 3600')], { restartPolicy: 'Never', initContainers: [c('init', 'exit 5')] }), settle: { kind: 'terminal' } },
  { name: 'init-fails-always', what: 'an init container that fails, restartPolicy Always: Init:CrashLoopBackOff (checkpoint 25 s)', spec: pod([c('app', 'sleep 3600')], { initContainers: [c('init', 'exit 5')] }), settle: { kind: 'checkpoint', afterMs: 25_000 } },
  { name: 'sidecar', what: 'a sidecar (restartable init container) beside the app', spec: pod([c('app', 'sleep 3600')], { initContainers: [c('side', 'sleep 3600', { restartPolicy: 'Always' })] }), settle: { kind: 'ready' } },
  { name: 'sidecar-job', what: 'restartPolicy Never: the app ends, the sidecar is stopped', spec: pod([c('app', 'sleep 2; exit 0')], { restartPolicy: 'Never', initContainers: [c('side', 'sleep 3600', { restartPolicy: 'Always' })] }), settle: { kind: 'terminal' } },
  // images
  { name: 'image-missing-never', what: 'pull policy Never, image not present: ErrImageNeverPull', spec: pod([{ name: 'app', image: 'splitlet-lab/absent:1', imagePullPolicy: 'Never' }]), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  { name: 'image-pull-fails', what: 'an image no registry here has: ErrImagePull, then ImagePullBackOff (checkpoint 20 s)', spec: pod([{ name: 'app', image: 'splitlet-lab/absent:1', imagePullPolicy: 'IfNotPresent' }]), settle: { kind: 'checkpoint', afterMs: 20_000 } },
  { name: 'image-invalid', what: 'an invalid image name: InvalidImageName', spec: pod([{ name: 'app', image: 'Not A Valid:Name', imagePullPolicy: 'IfNotPresent' }]), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  // probes
  { name: 'readiness-pass', what: 'an exec readiness probe that passes', spec: pod([c('app', 'sleep 3600', { readinessProbe: exec('true') })]), settle: { kind: 'ready' } },
  { name: 'readiness-fail', what: 'an exec readiness probe that fails (checkpoint 12 s)', spec: pod([c('app', 'sleep 3600', { readinessProbe: exec('false') })]), settle: { kind: 'checkpoint', afterMs: 12_000 } },
  { name: 'liveness-fail', what: 'an exec liveness probe that fails: killed and restarted (checkpoint 20 s)', spec: pod([c('app', 'sleep 3600', { livenessProbe: exec('false', { failureThreshold: 2 }) })]), settle: { kind: 'checkpoint', afterMs: 20_000 } },
  { name: 'startup-then-ready', what: 'a startup probe that passes after 3 s, then readiness', spec: pod([c('app', 'sleep 3; touch /tmp/up; sleep 3600', { startupProbe: exec('test -f /tmp/up', { failureThreshold: 30 }), readinessProbe: exec('true') })]), settle: { kind: 'ready' } },
  // termination messages
  { name: 'termination-message-file', what: 'a termination message written to the file', spec: pod([c('app', 'echo done-by-file > /dev/termination-log; exit 4')], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  { name: 'termination-message-log', what: 'FallbackToLogsOnError: the log tail is the message', spec: pod([c('app', 'echo from-the-log; exit 6', { terminationMessagePolicy: 'FallbackToLogsOnError' })], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  // deadlines
  { name: 'active-deadline', what: 'activeDeadlineSeconds 3: DeadlineExceeded', spec: pod([c('app', 'sleep 3600')], { activeDeadlineSeconds: 3 }), settle: { kind: 'terminal' } },
  // configuration the node refuses or waits for
  { name: 'env-missing-configmap', what: 'env from a ConfigMap that does not exist: CreateContainerConfigError', spec: pod([c('app', 'sleep 3600', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k' } } }] })]), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  { name: 'volume-missing-configmap', what: 'a ConfigMap volume whose ConfigMap does not exist: ContainerCreating, FailedMount', spec: pod([c('app', 'sleep 3600', { volumeMounts: [{ name: 'cm', mountPath: '/cm' }] })], { volumes: [{ name: 'cm', configMap: { name: 'absent' } }] }), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  { name: 'run-as-non-root-refused', what: 'runAsNonRoot with an image that runs as root: CreateContainerConfigError', spec: pod([c('app', 'sleep 3600', { securityContext: { runAsNonRoot: true } })]), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  { name: 'run-as-user', what: 'runAsUser 1000 with runAsNonRoot', spec: pod([c('app', 'test "$(id -u)" = 1000 && sleep 3600', { securityContext: { runAsNonRoot: true, runAsUser: 1000 } })]), settle: { kind: 'ready' } },
  { name: 'emptydir', what: 'an emptyDir shared between an init container and the app', spec: pod([c('app', 'test -f /data/x && sleep 3600', { volumeMounts: [{ name: 'd', mountPath: '/data' }] })], { initContainers: [c('init', 'touch /data/x', { volumeMounts: [{ name: 'd', mountPath: '/data' }] })], volumes: [{ name: 'd', emptyDir: {} }] }), settle: { kind: 'ready' } },
  { name: 'poststart-fails', what: 'a postStart hook that fails: the container is killed (checkpoint 15 s)', spec: pod([c('app', 'sleep 3600', { lifecycle: { postStart: { exec: { command: ['sh', '-c', 'exit 7'] } } } })]), settle: { kind: 'checkpoint', afterMs: 15_000 } },
  // resources and QoS
  { name: 'oom', what: 'a container over its memory limit: OOMKilled, restartPolicy Never', spec: pod([c('app', 'head -c 300m /dev/zero | tail', { resources: { limits: { memory: '32Mi' } } })], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  { name: 'guaranteed', what: 'requests equal to limits: Guaranteed', spec: pod([c('app', 'sleep 3600', { resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } } })]), settle: { kind: 'ready' } },
  { name: 'burstable', what: 'a request without a limit: Burstable', spec: pod([c('app', 'sleep 3600', { resources: { requests: { cpu: '50m' } } })]), settle: { kind: 'ready' } },
  // more volumes and environment
  { name: 'volume-missing-secret', what: 'a Secret volume whose Secret does not exist: ContainerCreating, FailedMount', spec: pod([c('app', 'sleep 3600', { volumeMounts: [{ name: 's', mountPath: '/s' }] })], { volumes: [{ name: 's', secret: { secretName: 'absent' } }] }), settle: { kind: 'checkpoint', afterMs: 10_000 } },
  { name: 'env-optional-missing', what: 'env from a missing ConfigMap marked optional: runs', spec: pod([c('app', 'sleep 3600', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k', optional: true } } }] })]), settle: { kind: 'ready' } },
  { name: 'downward-env', what: 'env from the downward API (name, pod IP) and $(VAR) expansion', spec: pod([c('app', 'test -n "$IP" && test "$ME" = "$EXPECT" && sleep 3600', { env: [{ name: 'ME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, { name: 'EXPECT', value: '$(ME)' }] })]), settle: { kind: 'ready' } },
  { name: 'termination-message-path', what: 'a termination message at a path of its own', spec: pod([c('app', 'echo custom-path > /tmp/why; exit 2', { terminationMessagePath: '/tmp/why' })], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
  // ordering, gates, startup
  { name: 'two-inits-then-sidecar', what: 'two init containers, then a sidecar, then the app', spec: pod([c('app', 'sleep 3600')], { initContainers: [c('one', 'exit 0'), c('two', 'exit 0'), c('side', 'sleep 3600', { restartPolicy: 'Always' })] }), settle: { kind: 'ready' } },
  { name: 'readiness-gate', what: 'a readiness gate nobody sets: Ready False, ReadinessGatesNotReady (checkpoint 8 s)', spec: pod([c('app', 'sleep 3600')], { readinessGates: [{ conditionType: 'example.com/gate' }] }), settle: { kind: 'checkpoint', afterMs: 8_000 } },
  { name: 'init-fails-onfailure', what: 'an init container that fails, restartPolicy OnFailure (checkpoint 8 s: inside its first back-off)', spec: pod([c('app', 'sleep 3600')], { restartPolicy: 'OnFailure', initContainers: [c('init', 'exit 1')] }), settle: { kind: 'checkpoint', afterMs: 8_000 } },
  // Each instance lives ~5 s (1 s to the first tick, 3 failures, 2 s of grace): the third
  // is being killed at ~15 s, so the checkpoint is at 20 s, inside the back-off that follows.
  { name: 'startup-fails', what: 'a startup probe that never passes: killed and restarted twice, then in back-off (checkpoint 20 s)', spec: pod([c('app', 'sleep 3600', { startupProbe: exec('false', { failureThreshold: 3 }) })]), settle: { kind: 'checkpoint', afterMs: 20_000 } },
  { name: 'exit-by-signal', what: 'a container killed by its own SIGTERM, restartPolicy Never', spec: pod([c('app', 'kill -TERM $$; sleep 5')], { restartPolicy: 'Never' }), settle: { kind: 'terminal' } },
];
