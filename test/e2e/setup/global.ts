import { runCommand } from '@splitlet/testing';

// The build stages the classic builder leaves behind (services/Dockerfile's, ~0.9 GB
// each, labelled splitlet.build-stage) are removed before and after the whole e2e run,
// never while a test file runs: images.e2e.ts and compose.e2e.ts build that stage in
// parallel, and a prune by one removed the other's build cache mid-build ("failed to
// get digest sha256:…: no such file", an e2e run under two busy loops).
const prune = () => runCommand('docker', ['image', 'prune', '-f', '--filter', 'label=splitlet.build-stage=true']);

export default async function setup(): Promise<() => Promise<void>> {
  await prune();
  return async () => {
    await prune();
  };
}
