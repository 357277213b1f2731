import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubectl, labEnv, runCommand } from './lab';

/** A kubeconfig for an API server that is not there (a service must keep retrying). */
export async function unreachableKubeconfig(): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'splitlet-kc-')), 'unreachable.kubeconfig');
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return path;
}

/**
 * Gets a node identity for `nodeName` the way a node joins a cluster: a key and a
 * CSR for system:node:<name> in system:nodes, signed by the cluster's
 * kube-apiserver-client-kubelet signer once an admin approves it. Returns the
 * path of a kubeconfig that uses it, for the lab's API server or `opts.server` (e.g. a
 * proxy in front of it; the lab's CA still verifies it).
 */
export async function mintNodeKubeconfig(nodeName: string, opts: { server?: string } = {}): Promise<string> {
  const lab = labEnv();
  const dir = await mkdtemp(join(tmpdir(), `splitlet-node-${nodeName}-`));
  const key = join(dir, 'node.key');
  const csr = join(dir, 'node.csr');
  await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  await mustRun('openssl', ['req', '-new', '-key', key, '-subj', `/O=system:nodes/CN=system:node:${nodeName}`, '-out', csr]);
  const csrName = `node-csr-${nodeName}-${Date.now()}`;
  const object = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name: csrName },
    spec: {
      request: (await readFile(csr)).toString('base64'),
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'client auth'],
    },
  };
  await mustKubectl(lab.adminKubeconfig, ['create', '-f', '-'], JSON.stringify(object));
  await mustKubectl(lab.adminKubeconfig, ['certificate', 'approve', csrName]);
  let cert = '';
  for (let i = 0; i < 100 && !cert; i++) {
    cert = (await kubectl(lab.adminKubeconfig, ['get', 'csr', csrName, '-o', 'jsonpath={.status.certificate}'])).stdout.trim();
    if (!cert) await new Promise((r) => setTimeout(r, 100));
  }
  if (!cert) throw new Error(`CSR ${csrName} was approved but not signed within 10 s (is the controller-manager's csrsigning controller running?)`);
  await kubectl(lab.adminKubeconfig, ['delete', 'csr', csrName]);

  const admin = new KubeConfig();
  admin.loadFromFile(lab.adminKubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const node = new KubeConfig();
  node.loadFromOptions({
    clusters: [{ name: 'lab', server: opts.server ?? cluster.server, caData: cluster.caData, skipTLSVerify: false }],
    users: [{ name: `system:node:${nodeName}`, certData: cert, keyData: (await readFile(key)).toString('base64') }],
    contexts: [{ name: 'node', cluster: 'lab', user: `system:node:${nodeName}` }],
    currentContext: 'node',
  });
  const path = join(dir, 'node.kubeconfig');
  await writeFile(path, node.exportConfig());
  return path;
}

async function mustRun(file: string, args: string[]): Promise<void> {
  const r = await runCommand(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.stderr}`);
}

async function mustKubectl(kubeconfig: string, args: string[], input?: string): Promise<void> {
  const r = await kubectl(kubeconfig, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
}
