/**
 * What a request to the kubelet API asks to do, as a SubjectAccessReview's resource
 * attributes: pkg/kubelet/server/auth.go's nodeAuthorizerAttributesGetter.
 */
export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
}

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** /stats → nodes/stats, /metrics… → nodes/metrics, /logs → nodes/log, anything else → nodes/proxy. */
export function requestAttributes(method: string, path: string, nodeName: string): RequestAttributes {
  const subresource = isSubpath(path, '/stats') ? 'stats' : isSubpath(path, '/metrics') ? 'metrics' : isSubpath(path, '/logs') ? 'log' : 'proxy';
  // An HTTP method the kubelet does not map (HEAD, OPTIONS) asks for the empty verb, which no RBAC rule grants.
  return { verb: VERBS[method] ?? '', resource: 'nodes', subresource, name: nodeName };
}

// The kubelet's isSubpath: the path itself, or below it.
function isSubpath(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path[prefix.length] === '/');
}
