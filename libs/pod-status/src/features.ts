/**
 * The kubelet feature gates that change pod-status arithmetic. Upstream reads them
 * from a process-global gate (utilfeature.DefaultFeatureGate); here they are an
 * explicit, optional argument so the functions stay pure and tests can flip them.
 */
export interface PodStatusFeatures {
  /**
   * ContainerRestartRules (KEP-5307; alpha 1.34, beta and on by default since 1.35):
   * per-container restartPolicy and restartPolicyRules decide whether an exited
   * container will be restarted, instead of the pod's restartPolicy alone.
   */
  readonly containerRestartRules: boolean;
  /**
   * RestartAllContainersOnContainerExits (KEP-5532; alpha since 1.35, off by default):
   * a restart rule may restart the whole pod in place; containers killed for it carry
   * the reason RestartingAllContainers and count as restartable.
   */
  readonly restartAllContainersOnContainerExits: boolean;
  /**
   * PodLevelResources (KEP-2837; alpha 1.32, beta and on by default since 1.34):
   * pod.spec.resources, when set, alone decides the QoS class.
   */
  readonly podLevelResources: boolean;
}

/** The defaults of a v1.36 kubelet, as far as pkg/features/kube_features.go records them. */
export const defaultPodStatusFeatures: PodStatusFeatures = {
  containerRestartRules: true,
  restartAllContainersOnContainerExits: false,
  podLevelResources: true,
};

/** Fills unset gates from the defaults. */
export const withDefaultFeatures = (features?: Partial<PodStatusFeatures>): PodStatusFeatures => ({
  ...defaultPodStatusFeatures,
  ...features,
});
