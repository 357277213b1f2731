import type { CoreV1Api, V1Container, V1Pod } from '@kubernetes/client-node';
import type { ServiceClient } from '@splitlet/bus';
import type { AuthConfig, ImageService } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';

type Images = ServiceClient<typeof ImageService>;
type AuthInit = Partial<Pick<AuthConfig, 'username' | 'password' | 'auth' | 'serverAddress'>>;

/** The kubelet's image pull back-off: 10 s doubling to 5 min, per pod and image. */
const PULL_BACKOFF_INITIAL_MS = 10_000;
const PULL_BACKOFF_MAX_MS = 300_000;

/** Reports an Event about the container: type, reason, message. */
export type ContainerEvent = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

/** A failure that leaves the container waiting with this reason (and the error's message). */
export class ImageError extends Error {
  constructor(
    readonly waiting: 'InvalidImageName' | 'ErrImageNeverPull' | 'ErrImagePull' | 'ImagePullBackOff',
    message: string,
  ) {
    super(message);
  }
}

// The Docker reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest].
const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const domainPart = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainPart}(?:\\.${domainPart})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const REFERENCE = new RegExp(`^(?:(${domain})/)?(${component}(?:/${component})*)(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$`);

/** Why an image reference is not one, in Docker's words; undefined when it is fine. */
export function invalidReference(image: string): string | undefined {
  // distribution/reference's ParseNormalizedNamed, in its order: a bare 64-hex ID, then
  // the repository's case (before anything else about the name), then the grammar.
  if (/^[a-f0-9]{64}$/.test(image)) return `invalid repository name (${image}), cannot specify 64-byte hexadecimal strings`;
  const slash = image.indexOf('/');
  const first = slash === -1 ? '' : image.slice(0, slash);
  const dockerHub = slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first);
  let remainder = dockerHub ? image : image.slice(slash + 1);
  if (dockerHub && !remainder.includes('/')) remainder = `library/${remainder}`;
  const tagSep = remainder.indexOf(':');
  const remote = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remote.toLowerCase() !== remote) return `invalid reference format: repository name (${remote}) must be lowercase`;
  if (!image || !REFERENCE.test(image)) return 'invalid reference format';
  return undefined;
}

/** The registry host of an image, as the credential keyring matches it (docker.io for bare names). */
export function registryOf(image: string): { host: string; path: string } {
  const [first, ...rest] = image.split('@')[0]!.split('/');
  const hasDomain = rest.length > 0 && (first!.includes('.') || first!.includes(':') || first === 'localhost');
  const repo = (hasDomain ? rest : [first!, ...rest]).join('/').replace(/:[^/]*$/, '');
  return { host: hasDomain ? first! : 'docker.io', path: repo };
}

/** One registry key of a docker config (a URL, a host, or host/path) as host and path prefix. */
function parseKey(key: string): { host: string; path: string } {
  const bare = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  const [host, ...path] = bare.split('/');
  const h = host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : (host ?? '');
  // Docker Hub's legacy "https://index.docker.io/v1/" key means the whole registry.
  const p = path.join('/');
  return { host: h, path: h === 'docker.io' && /^v\d+$/.test(p) ? '' : p };
}

interface DockerConfigEntry {
  auth?: string;
  username?: string;
  password?: string;
}

/**
 * The credentials of the pod's imagePullSecrets that match the image, most specific
 * first (the kubelet's keyring: the registry host, then the longest path prefix).
 * A secret that cannot be read is skipped, as the kubelet warns and goes on.
 */
export async function pullCredentials(api: CoreV1Api, pod: V1Pod, image: string, onError: (message: string) => void): Promise<AuthInit[]> {
  const want = registryOf(image);
  const found: Array<{ score: number; auth: AuthInit }> = [];
  for (const ref of pod.spec?.imagePullSecrets ?? []) {
    if (!ref.name) continue;
    let data: Record<string, string> | undefined;
    try {
      data = (await api.readNamespacedSecret({ namespace: pod.metadata!.namespace!, name: ref.name })).data;
    } catch (err) {
      onError(`Unable to retrieve some image pull secrets (${ref.name}); attempting to pull the image may not succeed.`);
      void err;
      continue;
    }
    const decode = (k: string) => (data?.[k] ? Buffer.from(data[k], 'base64').toString('utf8') : undefined);
    let auths: Record<string, DockerConfigEntry> = {};
    try {
      const json = decode('.dockerconfigjson');
      if (json) auths = (JSON.parse(json) as { auths?: Record<string, DockerConfigEntry> }).auths ?? {};
      const cfg = decode('.dockercfg');
      if (cfg) auths = { ...auths, ...(JSON.parse(cfg) as Record<string, DockerConfigEntry>) };
    } catch {
      continue;
    }
    for (const [key, entry] of Object.entries(auths)) {
      const k = parseKey(key);
      if (k.host !== want.host) continue;
      if (k.path && want.path !== k.path && !want.path.startsWith(`${k.path}/`)) continue;
      let { username, password } = entry;
      if (entry.auth && !username) {
        const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
        const i = plain.indexOf(':');
        username = plain.slice(0, i);
        password = plain.slice(i + 1);
      }
      found.push({ score: k.path.length, auth: { username: username ?? '', password: password ?? '', serverAddress: k.host } });
    }
  }
  return found.sort((a, b) => b.score - a.score).map((f) => f.auth);
}

/**
 * The kubelet's EnsureImageExists (pkg/kubelet/images/image_manager.go): the pull
 * policy (Always for :latest or no tag), InvalidImageName, ErrImageNeverPull, the pull
 * with the pod's pull secrets (each matching credential in turn), and after a failed
 * pull a back-off per pod and image during which the container waits in
 * ImagePullBackOff. Events as the kubelet's: Pulling, Pulled, Failed, BackOff.
 */
/** Told of each pod's image pulls (the kubelet's podPullingTimeRecorder, for the startup SLI). */
export interface PullTimeRecorder {
  imagePullStarted(podUid: string, now: number): void;
  /** Only a pull that succeeded. */
  imagePullFinished(podUid: string, now: number): void;
}

const noRecorder: PullTimeRecorder = { imagePullStarted: () => undefined, imagePullFinished: () => undefined };

export class ImageManager {
  private readonly backoff = new Map<string, { delayMs: number; at: number; lastError: string }>();

  constructor(
    private readonly images: Images,
    private readonly core: CoreV1Api,
    private readonly clock: Clock,
    private readonly pulls: PullTimeRecorder = noRecorder,
  ) {}

  async ensure(pod: V1Pod, c: V1Container, ev: ContainerEvent): Promise<void> {
    const image = c.image ?? '';
    const invalid = invalidReference(image);
    if (invalid) {
      ev('Warning', 'InspectFailed', `Failed to apply default image tag "${image}": couldn't parse image name "${image}": ${invalid}`);
      ev('Warning', 'Failed', 'Error: InvalidImageName');
      throw new ImageError('InvalidImageName', `Failed to apply default image tag "${image}": couldn't parse image name "${image}": ${invalid}`);
    }
    const tagged = /:[^/]+$/.test(image.split('@')[0]!) || image.includes('@');
    const policy = c.imagePullPolicy ?? (!tagged || image.split('@')[0]!.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    const present = (await this.images.imageStatus({ image: { image } })).image;
    if (policy === 'Never' && !present) {
      const message = `Container image "${image}" is not present with pull policy of Never`;
      ev('Warning', 'ErrImageNeverPull', message);
      ev('Warning', 'Failed', 'Error: ErrImageNeverPull');
      throw new ImageError('ErrImageNeverPull', message);
    }
    if (policy !== 'Always' && present) {
      ev('Normal', 'Pulled', `Container image "${image}" already present on machine and can be accessed by the pod`);
      return;
    }
    const key = `${pod.metadata!.uid}_${image}`;
    const now = this.clock.now();
    const b = this.backoff.get(key);
    if (b && now - b.at < b.delayMs) {
      const message = `Back-off pulling image "${image}"`;
      ev('Normal', 'BackOff', message);
      ev('Warning', 'Failed', 'Error: ImagePullBackOff');
      throw new ImageError('ImagePullBackOff', `${message}: ${b.lastError}`);
    }
    ev('Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.clock.now();
    this.pulls.imagePullStarted(pod.metadata!.uid!, started);
    const creds = await pullCredentials(this.core, pod, image, (m) => ev('Warning', 'FailedToRetrieveImagePullSecret', m));
    let lastError: (Error & { description?: string }) | undefined;
    for (const auth of creds.length ? creds : [undefined]) {
      try {
        await this.images.pullImage({ image: { image }, ...(auth ? { auth } : {}) });
        lastError = undefined;
        break;
      } catch (err) {
        lastError = err as Error & { description?: string };
      }
    }
    if (lastError) {
      const reason = lastError.description ?? lastError.message;
      ev('Warning', 'Failed', `Failed to pull image "${image}": ${reason}`);
      ev('Warning', 'Failed', 'Error: ErrImagePull');
      // Back-off.Next: the first failure waits 10 s, each next one twice as long (5 min at most);
      // a failure long after the last starts afresh.
      const fresh = !b || now - b.at > 2 * PULL_BACKOFF_MAX_MS;
      this.backoff.set(key, { delayMs: fresh ? PULL_BACKOFF_INITIAL_MS : Math.min(b.delayMs * 2, PULL_BACKOFF_MAX_MS), at: now, lastError: `ErrImagePull: ${reason}` });
      throw new ImageError('ErrImagePull', reason);
    }
    this.backoff.delete(key);
    this.pulls.imagePullFinished(pod.metadata!.uid!, this.clock.now());
    const took = ((this.clock.now() - started) / 1000).toFixed(3);
    const size = (await this.images.imageStatus({ image: { image } })).image?.size ?? 0n;
    ev('Normal', 'Pulled', `Successfully pulled image "${image}" in ${took}s (${took}s including waiting). Image size: ${size} bytes.`);
  }

  /** Forgets a pod's back-off entries (the pod is gone). */
  forget(podUid: string): void {
    for (const k of this.backoff.keys()) if (k.startsWith(`${podUid}_`)) this.backoff.delete(k);
  }
}
