import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeServiceLifecycle } from '@splitlet/testing';

// An API server that is not there: pod-sync must keep running and retry.
const kubeconfig = join(tmpdir(), `pod-sync-lifecycle-${process.pid}.kubeconfig`);
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
);

describeServiceLifecycle('pod-sync', { KUBECONFIG: kubeconfig });
