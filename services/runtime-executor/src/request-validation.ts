import { ErrorCode, HandlerError } from '@splitlet/bus';

// Every id and image reference in a request ends up in the path of a Docker API URL
// (/containers/<id>/json, /images/<ref>/json). One that is not shaped as Docker's own
// ("", "/", "..", "%2F") makes Docker answer something else than the object it names
// — a 301 to the cleaned path, or another endpoint altogether — so it is refused
// here, before Docker, with 3 (invalid argument).

/**
 * A container's or sandbox's ID as Docker makes it (64 lower-case hex). Callers send
 * IDs that this service answered with (pod-sync, the prober from the pod's status);
 * none relies on Docker's ID prefixes or names, which would also reach containers by
 * a name another node chose.
 */
const CONTAINER_ID = /^[0-9a-f]{64}$/;

// The reference grammar of distribution/reference ([domain[:port]/]path[:tag][@digest]),
// as pod-sync's image manager checks it before it asks for an image.
const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const domainPart = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainPart}(?:\\.${domainPart})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const REFERENCE = new RegExp(
  `^(?<name>(?:${domain}/)?${component}(?:/${component})*)(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,128})?$`,
);
/** distribution/reference's NameTotalLengthMax. */
const NAME_MAX = 255;
/** An image ID as Docker lists it (sha256:<hex>); a bare 64-hex ID already parses as a name. */
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

// Kubernetes' own name rules (apimachinery validation): a pod's name is a DNS-1123
// subdomain, its namespace and a container's name DNS-1123 labels. They become the
// Docker name k8s_<container>_<pod>_<namespace>_<uid>_<attempt>, read back by
// splitting at "_", so none may hold one; a UID is the API server's UUID (or a static
// pod's hex hash).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBDOMAIN_MAX = 253;
const UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

/** Quotes a value for an error message: at most 80 characters of it, so a 4 KiB id is not echoed back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Refuses (3) an ID that is not shaped as a Docker container ID; `what` names it in the error. */
export function requireContainerId(id: string, what: 'container' | 'pod sandbox' | 'target container'): string {
  if (!CONTAINER_ID.test(id)) throw invalid(`invalid ${what} id ${quoted(id)}: 64 lower-case hex digits expected`);
  return id;
}

/** Refuses (3) an image reference that is neither one in Docker's grammar nor an image ID, in Docker's words. */
export function requireImageRef(ref: string): string {
  if (IMAGE_ID.test(ref)) return ref;
  const m = REFERENCE.exec(ref);
  if (!m || (m.groups?.['name']?.length ?? 0) > NAME_MAX) throw invalid(`invalid reference format: ${quoted(ref)}`);
  return ref;
}

/** Refuses (3) a sandbox's metadata whose pod name, namespace or UID Kubernetes would not have made. */
export function requirePodMetadata(m: { name: string; namespace: string; uid: string }): void {
  if (!DNS_SUBDOMAIN.test(m.name) || m.name.length > SUBDOMAIN_MAX) throw invalid(`invalid pod name ${quoted(m.name)}: a DNS-1123 subdomain expected`);
  if (!DNS_LABEL.test(m.namespace)) throw invalid(`invalid namespace ${quoted(m.namespace)}: a DNS-1123 label expected`);
  if (!UID.test(m.uid)) throw invalid(`invalid pod uid ${quoted(m.uid)}`);
}

/** Refuses (3) a container name Kubernetes would not have made (a DNS-1123 label). */
export function requireContainerName(name: string): string {
  if (!DNS_LABEL.test(name)) throw invalid(`invalid container name ${quoted(name)}: a DNS-1123 label expected`);
  return name;
}

const invalid = (message: string) => new HandlerError(ErrorCode.InvalidArgument, message);

/**
 * A bind mount's paths as Docker's `Binds` syntax can carry them (`host:container[:opts]`,
 * no escaping, as dockershim wrote them): absolute, no `:` or NUL, and no `..` in the host
 * path (the API server allows none in a hostPath either). A path that breaks the syntax
 * would be read as other paths or options: refused (3), and the container is not created.
 */
export function requireBindPaths(mounts: readonly { hostPath: string; containerPath: string }[]): void {
  for (const m of mounts) {
    for (const [what, p] of [['host path', m.hostPath], ['container path', m.containerPath]] as const) {
      if (!p.startsWith('/') || /[:\0]/.test(p) || (what === 'host path' && p.split('/').includes('..'))) {
        throw new HandlerError(ErrorCode.InvalidArgument, `invalid mount ${what} ${JSON.stringify(p.slice(0, 200))}: absolute, without ".." or ":", expected`);
      }
    }
  }
}
