import type { V1Container, V1ContainerRestartRule, V1ContainerStatus, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerShouldRestart, isStaticPod, type PodPhase, phaseReasonAndMessage, podPhase } from './phase';
import { RestartingAllContainers } from './reasons';

// Ports of the getPhase tables in pkg/kubelet/kubelet_pods_test.go (v1.36), one `it`
// per upstream case, named after it. Upstream passes getPhase one list,
// InitContainerStatuses ++ ContainerStatuses; the ports pass the same list, in the
// same order, as podPhase's first status list (podPhase concatenates, then searches
// by name, exactly like upstream).

// The status helpers of kubelet_pods_test.go.
const status = (name: string, s: Partial<V1ContainerStatus>): V1ContainerStatus => ({
  name,
  image: '',
  imageID: '',
  ready: false,
  restartCount: 0,
  ...s,
});
const waitingState = (name: string) => status(name, { state: { waiting: {} } });
const waitingStateWithLastTermination = (name: string) =>
  status(name, { state: { waiting: {} }, lastState: { terminated: { exitCode: 0 } } });
const waitingStateWithNonZeroTermination = (name: string) =>
  status(name, { state: { waiting: {} }, lastState: { terminated: { exitCode: -1 } } });
const waitingStateWithRestartingAllContainers = (name: string) =>
  status(name, {
    state: { waiting: { reason: RestartingAllContainers, message: 'The container is removed because RestartAllContainers in place' } },
    lastState: {
      terminated: { reason: RestartingAllContainers, message: 'The container is removed because RestartAllContainers in place', exitCode: 137 },
    },
  });
const runningState = (name: string) => status(name, { state: { running: {} } });
const startedState = (name: string) => status(name, { state: { running: {} }, started: true });
const stoppedState = (name: string) => status(name, { state: { terminated: { exitCode: 0 } } });
const succeededState = (name: string) => status(name, { state: { terminated: { exitCode: 0 } } });
const failedState = (name: string) => status(name, { state: { terminated: { exitCode: -1 } } });
const failedStateWithExitCode = (name: string, exitCode: number) => status(name, { state: { terminated: { exitCode } } });

const pod = (spec: V1PodSpec, init: V1ContainerStatus[] = [], regular: V1ContainerStatus[] = []): V1Pod => ({
  spec,
  status: { initContainerStatuses: init, containerStatuses: regular },
});
/** Upstream's `statusInfo := InitContainerStatuses; append(statusInfo, ContainerStatuses...)`. */
const statusInfo = (p: V1Pod): V1ContainerStatus[] => [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];

type Case = [test: string, pod: V1Pod, podIsTerminal: boolean, podHasInitialized: boolean, phase: PodPhase];
const run = (cases: Case[]) =>
  it.each(cases)('podPhase - %s', (_test, p, podIsTerminal, podHasInitialized, want) => {
    expect(podPhase(p, statusInfo(p), [], podIsTerminal, { podHasInitialized })).toBe(want);
  });

const two: V1Container[] = [{ name: 'containerA' }, { name: 'containerB' }];

describe('TestPodPhaseWithRestartAlways', () => {
  const s: V1PodSpec = { nodeName: 'machine', containers: two, restartPolicy: 'Always' };
  run([
    ['waiting', pod(s), false, false, 'Pending'],
    ['all running', pod(s, [], [runningState('containerA'), runningState('containerB')]), false, false, 'Running'],
    ['all stopped with restart always', pod(s, [], [stoppedState('containerA'), stoppedState('containerB')]), false, false, 'Running'],
    [
      'all succeeded with restart always, but the pod is terminal',
      pod(s, [], [succeededState('containerA'), succeededState('containerB')]),
      true,
      false,
      'Succeeded',
    ],
    [
      'all stopped with restart always, but the pod is terminal',
      pod(s, [], [succeededState('containerA'), failedState('containerB')]),
      true,
      false,
      'Failed',
    ],
    ['mixed state #1 with restart always', pod(s, [], [runningState('containerA'), stoppedState('containerB')]), false, false, 'Running'],
    ['mixed state #2 with restart always', pod(s, [], [runningState('containerA')]), false, false, 'Pending'],
    ['mixed state #3 with restart always', pod(s, [], [runningState('containerA'), waitingState('containerB')]), false, false, 'Pending'],
    [
      'backoff crashloop container with restart always',
      pod(s, [], [runningState('containerA'), waitingStateWithLastTermination('containerB')]),
      false,
      false,
      'Running',
    ],
  ]);
});

describe('TestPodPhaseWithRestartAlwaysInitContainers', () => {
  const s: V1PodSpec = { nodeName: 'machine', initContainers: [{ name: 'containerX' }], containers: two, restartPolicy: 'Always' };
  run([
    ['empty, waiting', pod(s), false, false, 'Pending'],
    ['init container running', pod(s, [runningState('containerX')]), false, false, 'Pending'],
    ['init container terminated non-zero', pod(s, [failedState('containerX')]), false, false, 'Pending'],
    ['init container waiting, terminated zero', pod(s, [waitingStateWithLastTermination('containerX')]), false, false, 'Pending'],
    ['init container waiting, terminated non-zero', pod(s, [waitingStateWithNonZeroTermination('containerX')]), false, false, 'Pending'],
    ['init container waiting, not terminated', pod(s, [waitingState('containerX')]), false, false, 'Pending'],
    [
      'init container succeeded',
      pod(s, [succeededState('containerX')], [runningState('containerA'), runningState('containerB')]),
      false,
      false,
      'Running',
    ],
  ]);
});

describe('TestPodPhaseWithRestartAlwaysRestartableInitContainers', () => {
  const s: V1PodSpec = {
    nodeName: 'machine',
    initContainers: [{ name: 'containerX', restartPolicy: 'Always' }],
    containers: two,
    restartPolicy: 'Always',
  };
  const allRunning = [runningState('containerA'), runningState('containerB')];
  const allSucceeded = [succeededState('containerA'), succeededState('containerB')];
  run([
    ['empty, waiting', pod(s), false, false, 'Pending'],
    ['restartable init container running', pod(s, [runningState('containerX')]), false, false, 'Pending'],
    ['restartable init container stopped', pod(s, [stoppedState('containerX')]), false, false, 'Pending'],
    ['restartable init container waiting, terminated zero', pod(s, [waitingStateWithLastTermination('containerX')]), false, false, 'Pending'],
    [
      'restartable init container waiting, terminated non-zero',
      pod(s, [waitingStateWithNonZeroTermination('containerX')]),
      false,
      false,
      'Pending',
    ],
    ['restartable init container waiting, not terminated', pod(s, [waitingState('containerX')]), false, false, 'Pending'],
    [
      'restartable init container started, 1/2 regular container running',
      pod(s, [startedState('containerX')], [runningState('containerA')]),
      false,
      true,
      'Pending',
    ],
    [
      'restartable init container started, all regular containers running',
      pod(s, [startedState('containerX')], allRunning),
      false,
      true,
      'Running',
    ],
    [
      'restartable init container running, all regular containers running',
      pod(s, [runningState('containerX')], allRunning),
      false,
      true,
      'Running',
    ],
    [
      'restartable init container stopped, all regular containers running',
      pod(s, [stoppedState('containerX')], allRunning),
      false,
      true,
      'Running',
    ],
    [
      'backoff crashloop restartable init container, all regular containers running',
      pod(s, [waitingStateWithLastTermination('containerX')], allRunning),
      false,
      true,
      'Running',
    ],
    [
      'all regular containers succeeded and restartable init container failed with restart always, but the pod is terminal',
      pod(s, [failedState('containerX')], allSucceeded),
      true,
      true,
      'Succeeded',
    ],
    [
      'all regular containers succeeded and restartable init container succeeded with restart always, but the pod is terminal',
      pod(s, [succeededState('containerX')], allSucceeded),
      true,
      true,
      'Succeeded',
    ],
    [
      're-initializing the pod after the sandbox is recreated',
      pod(s, [runningState('containerX')], allRunning),
      false,
      false,
      'Pending',
    ],
  ]);
});

describe('TestPodPhaseWithRestartAlwaysAndPodHasRun', () => {
  const s: V1PodSpec = {
    nodeName: 'machine',
    initContainers: [{ name: 'containerX' }, { name: 'containerY', restartPolicy: 'Always' }],
    containers: [{ name: 'containerA' }],
    restartPolicy: 'Always',
  };
  run([
    [
      'regular init containers, restartable init container and regular container are all running',
      pod(s, [runningState('containerX'), runningState('containerY')], [runningState('containerA')]),
      false,
      false,
      'Pending',
    ],
    [
      'regular containers is stopped, restartable init container and regular int container are both running',
      pod(s, [runningState('containerX'), runningState('containerY')], [stoppedState('containerA')]),
      false,
      false,
      'Pending',
    ],
    [
      're-created sandbox: regular init container is succeeded, restartable init container is running, old regular containers is stopped',
      pod(s, [succeededState('containerX'), runningState('containerY')], [stoppedState('containerA')]),
      false,
      false,
      'Pending',
    ],
    [
      'regular init container is succeeded, restartable init container is running, regular containers is stopped',
      pod(s, [succeededState('containerX'), runningState('containerY')], [stoppedState('containerA')]),
      false,
      true,
      'Running',
    ],
    [
      'regular init container is succeeded, restartable init container and regular containers are both running',
      pod(s, [succeededState('containerX'), runningState('containerY')], [runningState('containerA')]),
      false,
      true,
      'Running',
    ],
  ]);
});

describe('TestPodPhaseWithRestartNever', () => {
  const s: V1PodSpec = { nodeName: 'machine', containers: two, restartPolicy: 'Never' };
  run([
    ['waiting', pod(s), false, false, 'Pending'],
    ['all running with restart never', pod(s, [], [runningState('containerA'), runningState('containerB')]), false, false, 'Running'],
    ['all succeeded with restart never', pod(s, [], [succeededState('containerA'), succeededState('containerB')]), false, false, 'Succeeded'],
    ['all failed with restart never', pod(s, [], [failedState('containerA'), failedState('containerB')]), false, false, 'Failed'],
    ['mixed state #1 with restart never', pod(s, [], [runningState('containerA'), succeededState('containerB')]), false, false, 'Running'],
    ['mixed state #2 with restart never', pod(s, [], [runningState('containerA')]), false, false, 'Pending'],
    ['mixed state #3 with restart never', pod(s, [], [runningState('containerA'), waitingState('containerB')]), false, false, 'Pending'],
  ]);
});

describe('TestPodPhaseWithRestartNeverInitContainers', () => {
  const s: V1PodSpec = { nodeName: 'machine', initContainers: [{ name: 'containerX' }], containers: two, restartPolicy: 'Never' };
  run([
    ['empty, waiting', pod(s), false, false, 'Pending'],
    ['init container running', pod(s, [runningState('containerX')]), false, false, 'Pending'],
    ['init container terminated non-zero', pod(s, [failedState('containerX')]), false, false, 'Failed'],
    ['init container waiting, terminated zero', pod(s, [waitingStateWithLastTermination('containerX')]), false, false, 'Pending'],
    ['init container waiting, terminated non-zero', pod(s, [waitingStateWithNonZeroTermination('containerX')]), false, false, 'Failed'],
    ['init container waiting, not terminated', pod(s, [waitingState('containerX')]), false, false, 'Pending'],
    [
      'init container succeeded',
      pod(s, [succeededState('containerX')], [runningState('containerA'), runningState('containerB')]),
      false,
      false,
      'Running',
    ],
  ]);
});

describe('TestPodPhaseWithRestartNeverRestartableInitContainers', () => {
  const s: V1PodSpec = {
    nodeName: 'machine',
    initContainers: [{ name: 'containerX', restartPolicy: 'Always' }],
    containers: two,
    restartPolicy: 'Never',
  };
  const allSucceeded = [succeededState('containerA'), succeededState('containerB')];
  run([
    ['empty, waiting', pod(s), false, false, 'Pending'],
    ['restartable init container running', pod(s, [runningState('containerX')]), false, false, 'Pending'],
    ['restartable init container stopped', pod(s, [stoppedState('containerX')]), false, false, 'Pending'],
    ['restartable init container waiting, terminated zero', pod(s, [waitingStateWithLastTermination('containerX')]), false, false, 'Pending'],
    [
      'restartable init container waiting, terminated non-zero',
      pod(s, [waitingStateWithNonZeroTermination('containerX')]),
      false,
      false,
      'Pending',
    ],
    ['restartable init container waiting, not terminated', pod(s, [waitingState('containerX')]), false, false, 'Pending'],
    [
      'restartable init container started, one main container running',
      pod(s, [startedState('containerX')], [runningState('containerA')]),
      false,
      true,
      'Pending',
    ],
    ['restartable init container started, main containers succeeded', pod(s, [startedState('containerX')], allSucceeded), false, true, 'Running'],
    ['restartable init container re-running, main containers succeeded', pod(s, [runningState('containerX')], allSucceeded), false, true, 'Running'],
    ['all containers succeeded', pod(s, [succeededState('containerX')], allSucceeded), false, true, 'Succeeded'],
    [
      'restartable init container terminated non-zero, main containers succeeded',
      pod(s, [failedState('containerX')], allSucceeded),
      false,
      true,
      'Succeeded',
    ],
    [
      'backoff crashloop restartable init container, main containers succeeded',
      pod(s, [waitingStateWithLastTermination('containerX')], allSucceeded),
      false,
      true,
      'Succeeded',
    ],
    [
      'backoff crashloop with non-zero restartable init container, main containers succeeded',
      pod(s, [waitingStateWithNonZeroTermination('containerX')], allSucceeded),
      false,
      true,
      'Succeeded',
    ],
  ]);
});

describe('TestPodPhaseWithRestartOnFailure', () => {
  const s: V1PodSpec = { nodeName: 'machine', containers: two, restartPolicy: 'OnFailure' };
  run([
    ['waiting', pod(s), false, false, 'Pending'],
    ['all running with restart onfailure', pod(s, [], [runningState('containerA'), runningState('containerB')]), false, false, 'Running'],
    ['all succeeded with restart onfailure', pod(s, [], [succeededState('containerA'), succeededState('containerB')]), false, false, 'Succeeded'],
    // Upstream's name for this case says "never"; the pod's policy is OnFailure.
    ['all failed with restart never', pod(s, [], [failedState('containerA'), failedState('containerB')]), false, false, 'Running'],
    ['mixed state #1 with restart onfailure', pod(s, [], [runningState('containerA'), succeededState('containerB')]), false, false, 'Running'],
    ['mixed state #2 with restart onfailure', pod(s, [], [runningState('containerA')]), false, false, 'Pending'],
    ['mixed state #3 with restart onfailure', pod(s, [], [runningState('containerA'), waitingState('containerB')]), false, false, 'Pending'],
    [
      'backoff crashloop container with restart onfailure',
      pod(s, [], [runningState('containerA'), waitingStateWithLastTermination('containerB')]),
      false,
      false,
      'Running',
    ],
  ]);
});

// The tables below enable gates explicitly, as upstream does with SetFeatureGateDuringTest,
// and always pass podHasInitialized=true.
type GateCase = [name: string, spec: V1PodSpec, statuses: V1ContainerStatus[], phase: PodPhase];

describe('TestPodPhaseWithContainerRestartPolicy', () => {
  const cases: GateCase[] = [
    [
      'container with restart policy Never failed',
      { containers: [{ name: 'failed-container', restartPolicy: 'Never' }], restartPolicy: 'Always' },
      [failedState('failed-container')],
      'Failed',
    ],
    [
      'container with restart policy OnFailure failed',
      { containers: [{ name: 'failed-container', restartPolicy: 'OnFailure' }], restartPolicy: 'Always' },
      [failedState('failed-container')],
      'Running',
    ],
    [
      'container with restart policy Always failed',
      { containers: [{ name: 'failed-container', restartPolicy: 'Always' }], restartPolicy: 'Always' },
      [failedState('failed-container')],
      'Running',
    ],
    [
      'At least one container with restartable container-level restart policy failed',
      { containers: [{ name: 'containerA', restartPolicy: 'Always' }, { name: 'containerB' }], restartPolicy: 'Never' },
      [succeededState('containerA'), failedState('containerB')],
      'Running',
    ],
    [
      'All containers without restartable container-level restart policy failed',
      {
        containers: [
          { name: 'containerA', restartPolicy: 'Never' },
          { name: 'containerB', restartPolicy: 'OnFailure' },
        ],
        restartPolicy: 'Always',
      },
      [failedState('containerA'), succeededState('containerB')],
      'Failed',
    ],
    [
      'All containers succeeded',
      {
        containers: [
          { name: 'containerA', restartPolicy: 'Never' },
          { name: 'containerB', restartPolicy: 'OnFailure' },
        ],
        restartPolicy: 'Always',
      },
      [succeededState('containerA'), succeededState('containerB')],
      'Succeeded',
    ],
  ];
  it.each(cases)('podPhase - %s', (_name, spec, statuses, want) => {
    const p: V1Pod = { spec, status: { containerStatuses: statuses } };
    expect(podPhase(p, statuses, [], false, { podHasInitialized: true, features: { containerRestartRules: true } })).toBe(want);
  });
});

describe('TestPodPhaseWithContainerRestartPolicyInitContainers', () => {
  const cases: GateCase[] = [
    [
      'init container with restart policy Never failed',
      {
        initContainers: [{ name: 'failed-container', restartPolicy: 'Never' }],
        containers: [{ name: 'container' }],
        restartPolicy: 'Always',
      },
      [failedState('failed-container')],
      'Failed',
    ],
    [
      'init container with restart policy OnFailure failed',
      {
        initContainers: [{ name: 'failed-container', restartPolicy: 'OnFailure' }],
        containers: [{ name: 'container' }],
        restartPolicy: 'Never',
      },
      [failedState('failed-container')],
      'Pending',
    ],
    [
      'container with restart policy Always failed',
      {
        initContainers: [{ name: 'failed-container', restartPolicy: 'Always' }],
        containers: [{ name: 'container' }],
        restartPolicy: 'Never',
      },
      [failedState('failed-container')],
      'Pending',
    ],
  ];
  it.each(cases)('podPhase - %s', (_name, spec, statuses, want) => {
    const p: V1Pod = { spec, status: { containerStatuses: statuses } };
    expect(podPhase(p, statuses, [], false, { podHasInitialized: true, features: { containerRestartRules: true } })).toBe(want);
  });
});

describe('TestPodPhaseWithRestartAllContainers', () => {
  const rule: V1ContainerRestartRule = { action: 'RestartAllContainers', exitCodes: { operator: 'In', values: [42] } };
  const containerWithRule: V1Container = { name: 'container', restartPolicy: 'Never', restartPolicyRules: [rule] };
  const sidecarContainerWithRule: V1Container = { name: 'container', restartPolicy: 'Always', restartPolicyRules: [rule] };
  const regular: V1Container = { name: 'regular' };
  const cases: GateCase[] = [
    // Trigger RestartAllContainers
    [
      'regular container triggers RestartAllContainers',
      { containers: [containerWithRule], restartPolicy: 'Never' },
      [failedStateWithExitCode('container', 42)],
      'Running',
    ],
    [
      'init container triggers RestartAllContainers',
      // Upstream's spec has no regular containers here, only a status for "regular".
      { initContainers: [containerWithRule], containers: [], restartPolicy: 'Never' },
      [failedStateWithExitCode('container', 42), waitingState('regular')],
      'Pending',
    ],
    [
      'sidecar container triggers RestartAllContainers',
      { initContainers: [sidecarContainerWithRule], containers: [regular], restartPolicy: 'Never' },
      [failedStateWithExitCode('container', 42), waitingState('regular')],
      'Pending',
    ],
    [
      'sidecar container triggers RestartAllContainers, kills another init container',
      { initContainers: [sidecarContainerWithRule, { name: 'init' }], containers: [regular], restartPolicy: 'Never' },
      [failedStateWithExitCode('container', 42), waitingState('init'), waitingState('regular')],
      'Pending',
    ],
    // Cleanup phase
    [
      'regular container triggers RestartAllContainers, cleaned up',
      { containers: [containerWithRule], restartPolicy: 'Never' },
      [waitingStateWithRestartingAllContainers('container')],
      'Running',
    ],
    [
      'init container triggers RestartAllContainers, cleaned up',
      { initContainers: [containerWithRule], containers: [], restartPolicy: 'Never' },
      [waitingStateWithRestartingAllContainers('container'), waitingState('regular')],
      'Pending',
    ],
    [
      'sidecar container triggers RestartAllContainers, cleaned up',
      { initContainers: [sidecarContainerWithRule], containers: [regular], restartPolicy: 'Never' },
      [waitingStateWithRestartingAllContainers('container'), waitingState('regular')],
      'Pending',
    ],
    [
      'sidecar container triggers RestartAllContainers, kills another init container, cleaned up',
      { initContainers: [sidecarContainerWithRule, { name: 'init' }], containers: [regular], restartPolicy: 'Never' },
      [waitingStateWithRestartingAllContainers('container'), waitingStateWithRestartingAllContainers('container'), waitingState('regular')],
      'Pending',
    ],
    // Startup phase
    [
      'regular container triggered RestartAllContainers; init container succeeded',
      { initContainers: [{ name: 'init' }], containers: [containerWithRule], restartPolicy: 'Never' },
      [succeededState('init'), waitingStateWithRestartingAllContainers('container')],
      'Running',
    ],
    [
      'regular container triggered RestartAllContainers; init container failed',
      { initContainers: [{ name: 'init' }], containers: [containerWithRule], restartPolicy: 'Never' },
      [failedState('init'), waitingStateWithRestartingAllContainers('container')],
      'Failed',
    ],
    [
      'init container triggered RestartAllContainers',
      { initContainers: [containerWithRule], containers: [regular], restartPolicy: 'Never' },
      [failedStateWithExitCode('container', 42), waitingState('regular')],
      'Pending',
    ],
    [
      'init container triggered RestartAllContainers; init container succeeds',
      { initContainers: [containerWithRule], containers: [regular], restartPolicy: 'Never' },
      [succeededState('container'), waitingState('regular')],
      'Pending',
    ],
    [
      'sidecar container triggered RestartAllContainers kills regular container',
      { initContainers: [sidecarContainerWithRule], containers: [regular], restartPolicy: 'Never' },
      [waitingStateWithRestartingAllContainers('container'), waitingStateWithRestartingAllContainers('regular')],
      'Running',
    ],
    [
      'sidecar container triggered RestartAllContainers kills regular container; sidecar running',
      { initContainers: [sidecarContainerWithRule], containers: [regular], restartPolicy: 'Never' },
      [runningState('container'), waitingStateWithRestartingAllContainers('regular')],
      'Running',
    ],
    [
      'sidecar container triggered RestartAllContainers; kills init container; sidecar running',
      { initContainers: [sidecarContainerWithRule, { name: 'init' }], containers: [regular], restartPolicy: 'Never' },
      [runningState('container'), waitingStateWithRestartingAllContainers('container'), waitingState('regular')],
      'Pending',
    ],
  ];
  it.each(cases)('podPhase - %s', (_name, spec, statuses, want) => {
    const p: V1Pod = { spec, status: { containerStatuses: statuses } };
    const features = { containerRestartRules: true, restartAllContainersOnContainerExits: true };
    expect(podPhase(p, statuses, [], false, { podHasInitialized: true, features })).toBe(want);
  });
});

// Not upstream tables: behaviour of this port's own seams.
describe('podPhase (port)', () => {
  const s: V1PodSpec = { containers: two, restartPolicy: 'Always' };

  it('podPhase - takes regular and init statuses as two lists', () => {
    const spec: V1PodSpec = { initContainers: [{ name: 'init' }], containers: [{ name: 'app' }], restartPolicy: 'Always' };
    expect(podPhase({ spec }, [runningState('app')], [succeededState('init')])).toBe('Running');
    expect(podPhase({ spec }, undefined, undefined)).toBe('Pending');
  });

  it('podPhase - defaults podHasInitialized to whether a regular container has run', () => {
    const spec: V1PodSpec = { initContainers: [{ name: 'sidecar', restartPolicy: 'Always' }], containers: [{ name: 'app' }], restartPolicy: 'Always' };
    // The sidecar restarts (running, not yet started) while the app runs: still Running.
    expect(podPhase({ spec }, [runningState('app')], [runningState('sidecar')])).toBe('Running');
    expect(podPhase({ spec }, [runningState('app')], [runningState('sidecar')], false, { podHasInitialized: false })).toBe('Pending');
  });

  it('podPhase - a terminal static pod keeps following its restart policy (upstream TODO #116484)', () => {
    const p: V1Pod = { metadata: { annotations: { 'kubernetes.io/config.source': 'file' } }, spec: s };
    const stopped = [succeededState('containerA'), succeededState('containerB')];
    expect(isStaticPod(p)).toBe(true);
    expect(podPhase(p, stopped, [], true)).toBe('Running');
    expect(podPhase({ ...p, metadata: { annotations: { 'kubernetes.io/config.source': 'api' } } }, stopped, [], true)).toBe('Succeeded');
  });

  it('podPhase - without ContainerRestartRules an init failure fails only a Never pod', () => {
    const spec: V1PodSpec = { initContainers: [{ name: 'init', restartPolicy: 'Never' }], containers: [{ name: 'app' }], restartPolicy: 'Always' };
    expect(podPhase({ spec }, [], [failedState('init')], false, { features: { containerRestartRules: false } })).toBe('Pending');
    expect(podPhase({ spec }, [], [failedState('init')])).toBe('Failed');
  });

  it('containerShouldRestart - the first rule whose exit codes match decides, then the container policy', () => {
    const c: V1Container = {
      name: 'c',
      restartPolicy: 'Never',
      restartPolicyRules: [
        { action: 'Restart', exitCodes: { operator: 'In', values: [42] } },
        { action: 'Restart', exitCodes: { operator: 'NotIn', values: [0, 1] } },
      ],
    };
    const spec: V1PodSpec = { containers: [c], restartPolicy: 'Always' };
    expect(containerShouldRestart(c, spec, 42)).toBe(true);
    expect(containerShouldRestart(c, spec, 7)).toBe(true);
    expect(containerShouldRestart(c, spec, 1)).toBe(false);
    expect(containerShouldRestart({ name: 'd' }, { containers: [], restartPolicy: 'OnFailure' }, 0)).toBe(false);
    expect(containerShouldRestart({ name: 'd' }, { containers: [] }, 0)).toBe(true);
  });
});

describe('phaseReasonAndMessage (generateAPIPodStatus: the reason and message go with the phase)', () => {
  const running = { phase: 'Running', reason: 'Stale', message: 'stale words' };
  it.each([
    ['same phase: the worker\'s own words stay', 'Running', { phase: 'Running', reason: 'Mine', message: 'mine' }, running, { reason: 'Mine', message: 'mine' }],
    ['same phase, none of its own: another writer\'s, from the API copy', 'Running', { phase: 'Running', reason: '', message: '' }, running, { reason: 'Stale', message: 'stale words' }],
    ['no worker status (a restart): the API copy is the old status', 'Running', undefined, running, { reason: 'Stale', message: 'stale words' }],
    ['a new phase: none', 'Failed', { phase: 'Running', reason: 'Stale', message: 'stale words' }, running, { reason: '', message: '' }],
    ['a new phase after a restart: none', 'Failed', undefined, running, { reason: '', message: '' }],
    // The race CI caught: Failed written without words; the informer still shows Running with another writer's.
    ['same phase again while the API copy still shows the previous one: not its words', 'Failed', { phase: 'Failed', reason: '', message: '' }, running, { reason: '', message: '' }],
    ['same phase, the API copy caught up: its words', 'Failed', { phase: 'Failed', reason: '', message: '' }, { phase: 'Failed', reason: 'Evicted', message: 'low' }, { reason: 'Evicted', message: 'low' }],
  ])('%s', (_name, phase, mine, api, want) => {
    expect(phaseReasonAndMessage(phase, mine, api)).toEqual(want);
  });
});
