import { describeServiceLifecycle, unreachableKubeconfig } from '@splitlet/testing';

// An API server that is not there: registrar must keep running and retry.
describeServiceLifecycle('registrar', { KUBECONFIG: await unreachableKubeconfig() });
