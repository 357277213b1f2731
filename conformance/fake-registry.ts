/**
 * The content agnhost's `fake-registry-server` serves from /var/registry (upstream's
 * agnhost image has it: test/images/agnhost/fakeregistryserver, images.txt
 * `pause 3.10.2 testing`), made here from an image `docker save` wrote and unpacked,
 * in the layout that server reads: <dir>/<name>/manifests/<tag> holds the manifest's
 * digest, <dir>/<name>/manifests/sha256/<ab>/<hash>/data the manifest, and
 * <dir>/<name>/blobs/sha256/<ab>/<hash>/data the config and the gzipped layers.
 * Upstream serves registry.k8s.io's manifest list; this is one linux/amd64 image
 * manifest (Docker schema 2), which pulls the same way.
 *
 *   tsx conformance/fake-registry.ts <unpacked docker save> <out dir> <name> <tag>
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const [saved, out, name, tag] = process.argv.slice(2);
if (!saved || !out || !name || !tag) {
  process.stderr.write('usage: fake-registry.ts <unpacked docker save> <out dir> <name> <tag>\n');
  process.exit(2);
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** fakeregistryserver's digestToPath: <base>/sha256/<first two>/<hash>/data */
function put(base: string, data: Buffer): { digest: string; size: number } {
  const digest = sha256(data);
  const hash = digest.slice('sha256:'.length);
  const dir = join(base, 'sha256', hash.slice(0, 2), hash);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'data'), data, { mode: 0o644 });
  return { digest, size: data.length };
}

const [entry] = JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
if (!entry) throw new Error(`no image in ${saved}/manifest.json`);
const blobs = join(out, name, 'blobs');
const manifests = join(out, name, 'manifests');
const config = put(blobs, readFileSync(join(saved, entry.Config)));
// gzip's header carries no time or name from node's zlib: the same input gives the same blob.
const layers = entry.Layers.map((l) => put(blobs, gzipSync(readFileSync(join(saved, l)), { level: 9 })));
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
  }),
);
const m = put(manifests, manifest);
writeFileSync(join(manifests, tag), `${m.digest}\n`, { mode: 0o644 });
process.stdout.write(`${name}:${tag} ${m.digest}\n`);
