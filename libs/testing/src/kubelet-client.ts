import { request } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { labEnv } from './lab';

/**
 * GET on a node's kubelet port directly (not through the API server), as the lab's
 * admin with its client certificate (`cert`) or with a bearer token. The answer is
 * verified against the cluster CA, which signed node-api's serving certificate; that
 * certificate names the node's host name and InternalIP, not 127.0.0.1, so the name is
 * not checked.
 */
export function kubeletGet(port: number, path: string, auth: { token?: string; cert?: boolean } = {}): Promise<{ status: number; body: string }> {
  const admin = new KubeConfig();
  admin.loadFromFile(labEnv().adminKubeconfig);
  const user = admin.getCurrentUser()!;
  const ca = Buffer.from(admin.getCurrentCluster()!.caData!, 'base64').toString();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca,
        checkServerIdentity: () => undefined,
        ...(auth.cert ? { cert: Buffer.from(user.certData!, 'base64'), key: Buffer.from(user.keyData!, 'base64') } : {}),
        headers: auth.token ? { authorization: `Bearer ${auth.token}` } : {},
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
