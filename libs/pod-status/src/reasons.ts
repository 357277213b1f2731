/**
 * The reason strings the kubelet writes into container states and pod conditions.
 * Clients (kubectl, controllers, alerting rules) match on these exact strings, so
 * they are spelled here once, exactly as upstream spells them.
 */

// ---- Waiting reasons (containerStatuses[].state.waiting.reason) ----

/** The container has no runtime container yet (sandbox, image or creation still in progress). kubelet_pods.go `ContainerCreating`. */
export const ContainerCreating = 'ContainerCreating';
/** A regular container waits because the pod's init containers have not all completed. kubelet_pods.go `PodInitializing`. */
export const PodInitializing = 'PodInitializing';
/** The container exited and its next start is held back by the restart back-off. kubecontainer `ErrCrashLoopBackOff`. */
export const CrashLoopBackOff = 'CrashLoopBackOff';
/** The last image pull failed. pkg/kubelet/images `ErrImagePull`. */
export const ErrImagePull = 'ErrImagePull';
/** Image pulls keep failing and the next attempt is held back by the pull back-off. pkg/kubelet/images `ErrImagePullBackOff`. */
export const ImagePullBackOff = 'ImagePullBackOff';
/** imagePullPolicy is Never and the image is not present on the node. pkg/kubelet/images `ErrImageNeverPull`. */
export const ErrImageNeverPull = 'ErrImageNeverPull';
/** The image reference does not parse. pkg/kubelet/images `ErrInvalidImageName`. */
export const InvalidImageName = 'InvalidImageName';
/** The container's config could not be built (e.g. a referenced ConfigMap or Secret key is missing). kuberuntime `ErrCreateContainerConfig`. */
export const CreateContainerConfigError = 'CreateContainerConfigError';
/** The runtime refused to create the container. kuberuntime `ErrCreateContainer`. */
export const CreateContainerError = 'CreateContainerError';
/** The runtime created the container but failed to start it. kubecontainer `ErrRunContainer`. */
export const RunContainerError = 'RunContainerError';
/** A pre-start hook failed (the kubelet's internal pre-start step, e.g. CPU/topology manager). kuberuntime `ErrPreStartHook`. */
export const PreStartHookError = 'PreStartHookError';
/** The container's postStart lifecycle hook failed, so the kubelet killed the container. kuberuntime `ErrPostStartHook`. */
export const PostStartHookError = 'PostStartHookError';

// ---- Terminated reasons (containerStatuses[].state.terminated.reason) ----

/** The process exited with code 0 (reported by the runtime). */
export const Completed = 'Completed';
/**
 * The process exited with a non-zero code (reported by the runtime). Named
 * `ErrorReason`, not `Error`, so importing it never shadows the global Error class.
 */
export const ErrorReason = 'Error';
/** The kernel OOM killer ended the process (reported by the runtime). */
export const OOMKilled = 'OOMKilled';
/** The runtime could not run the process at all (the dockershim-era name for a start failure). */
export const ContainerCannotRun = 'ContainerCannotRun';
/** The pod ran past spec.activeDeadlineSeconds and the kubelet killed it (also the pod status reason). */
export const DeadlineExceeded = 'DeadlineExceeded';
/** The runtime failed to start the process (containerd's reason, e.g. the entrypoint is not found). */
export const StartError = 'StartError';
/** The container vanished from the runtime while the pod was being deleted. kubecontainer `ContainerReasonStatusUnknown`. */
export const ContainerStatusUnknown = 'ContainerStatusUnknown';
/**
 * Waiting and terminated reason of a container removed by an in-place whole-pod
 * restart (RestartAllContainersOnContainerExits). kubelet_pods.go `RestartingAllContainers`.
 */
export const RestartingAllContainers = 'RestartingAllContainers';

// ---- Pod condition reasons (pkg/kubelet/status/generate.go) ----

/** Container statuses are not known at all (nil list). */
export const UnknownContainerStatuses = 'UnknownContainerStatuses';
/** All related containers have succeeded. */
export const PodCompleted = 'PodCompleted';
/** The pod has failed and so have its containers. */
export const PodFailed = 'PodFailed';
/** One or more containers are not ready. */
export const ContainersNotReady = 'ContainersNotReady';
/** One or more init containers have not succeeded (or a sidecar has not started). */
export const ContainersNotInitialized = 'ContainersNotInitialized';
/** One or more of the pod's readiness gates is not True. */
export const ReadinessGatesNotReady = 'ReadinessGatesNotReady';
