/**
 * What a request to the kubelet API asks to do, as SubjectAccessReview resource
 * attributes: pkg/kubelet/server/auth.go's nodeAuthorizerAttributesGetter. A request
 * may be allowed by any of several subresources, tried in order.
 */
export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
}

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * /stats → nodes/stats, /metrics… → nodes/metrics, /logs → nodes/log, /checkpoint →
 * nodes/checkpoint, anything else → nodes/proxy; with KubeletFineGrainedAuthz (on by
 * default since 1.33) /pods and /runningpods first try nodes/pods, /healthz
 * nodes/healthz, /configz nodes/configz, /statusz nodes/statusz.
 */
export function requestAttributes(method: string, path: string, nodeName: string): RequestAttributes[] {
  const subresources: string[] = [];
  const fine = FINE_GRAINED.find(([prefix]) => isSubpath(path, prefix));
  if (fine) subresources.push(fine[1]);
  subresources.push(isSubpath(path, '/stats') ? 'stats' : isSubpath(path, '/metrics') ? 'metrics' : isSubpath(path, '/logs') ? 'log' : isSubpath(path, '/checkpoint') ? 'checkpoint' : 'proxy');
  // An HTTP method the kubelet does not map (HEAD, OPTIONS) asks for the empty verb, which no RBAC rule grants.
  return subresources.map((subresource) => ({ verb: VERBS[method] ?? '', resource: 'nodes', subresource, name: nodeName }));
}

const FINE_GRAINED: [string, string][] = [
  ['/pods', 'pods'],
  ['/healthz', 'healthz'],
  ['/configz', 'configz'],
  ['/statusz', 'statusz'],
  ['/runningpods', 'pods'],
];

// The kubelet's isSubpath: the path itself, or below it (a trailing "/" of the prefix ignored).
function isSubpath(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === '/');
}
