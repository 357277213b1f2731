import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeServiceLifecycle, unreachableKubeconfig } from '@splitlet/testing';
import { testCA } from './__fixtures__/pki';

// An API server that is not there: node-api keeps waiting for its pods and certificate, and still stops cleanly.
const caFile = join(await mkdtemp(join(tmpdir(), 'node-api-ca-')), 'ca.crt');
await writeFile(caFile, (await testCA()).cert);
describeServiceLifecycle('node-api', { KUBECONFIG: await unreachableKubeconfig(), SPLITLET_CLIENT_CA_FILE: caFile });
