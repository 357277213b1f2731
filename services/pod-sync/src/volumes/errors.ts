/**
 * A ConfigMap or Secret the pod needs is not there, worded as the kubelet's object
 * cache words it (`configmap "x" not found`): it reaches users in waiting messages
 * and FailedMount Events.
 */
export class ObjectNotFoundError extends Error {
  constructor(
    readonly kind: 'configmap' | 'secret',
    readonly objectName: string,
  ) {
    super(`${kind} "${objectName}" not found`);
    this.name = 'ObjectNotFoundError';
  }
}

export const isObjectNotFound = (err: unknown): err is ObjectNotFoundError => err instanceof ObjectNotFoundError;

/** Why a container's config could not be made (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  readonly waiting = 'CreateContainerConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}
