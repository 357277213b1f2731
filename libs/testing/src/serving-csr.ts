import { createServer } from 'node:net';
import { kubectl, labEnv } from './lab';

/** A TCP port free on all interfaces right now (for a test node's kubelet port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Csr {
  metadata: { name: string };
  spec: { signerName: string; username: string };
  status?: { conditions?: { type: string }[] };
}

/**
 * Approves, as the lab's admin, the kubelet-serving CSR that node-api of `nodeName`
 * files (nothing approves those in the lab, as in a kubeadm cluster): only one filed
 * by system:node:<nodeName> for signer kubernetes.io/kubelet-serving. Waits up to timeoutMs.
 */
export async function approveServingCsr(nodeName: string, timeoutMs = 60_000): Promise<string> {
  const lab = labEnv();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await kubectl(lab.adminKubeconfig, ['get', 'csr', '-o', 'json']);
    const items = r.code === 0 ? (JSON.parse(r.stdout) as { items: Csr[] }).items : [];
    const pending = items.find(
      (c) => c.spec.signerName === 'kubernetes.io/kubelet-serving' && c.spec.username === `system:node:${nodeName}` && !c.status?.conditions?.length,
    );
    if (pending) {
      const approved = await kubectl(lab.adminKubeconfig, ['certificate', 'approve', pending.metadata.name]);
      if (approved.code !== 0) throw new Error(`cannot approve ${pending.metadata.name}: ${approved.stderr}`);
      return pending.metadata.name;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`no kubelet-serving CSR from system:node:${nodeName} within ${timeoutMs} ms`);
}
