/** DI tokens of runtime-executor (beside @splitlet/service's TOKENS). */
export const RT = {
  /** The Docker API (a DockerApi: dockerode, or a fake in unit tests). */
  Docker: Symbol('Docker'),
} as const;
