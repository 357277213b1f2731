import { describeServiceLifecycle, unreachableKubeconfig } from '@splitlet/testing';

describeServiceLifecycle('status-reporter', { KUBECONFIG: await unreachableKubeconfig() });
