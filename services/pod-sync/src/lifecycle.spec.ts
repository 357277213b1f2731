import { describeServiceLifecycle, unreachableKubeconfig } from '@splitlet/testing';

// An API server that is not there: pod-sync must keep running and retry.
describeServiceLifecycle('pod-sync', { KUBECONFIG: await unreachableKubeconfig() });
