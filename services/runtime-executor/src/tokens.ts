/** DI tokens of runtime-executor (beside @splitlet/service's TOKENS). */
export const RT = {
  /** The Docker API (a DockerApi: dockerode, or a fake in unit tests). */
  Docker: Symbol('Docker'),
  /** StatFs: measures the filesystem under Docker's data root. */
  StatFs: Symbol('StatFs'),
  /** string: the pause image a sandbox runs when the request names none. */
  PauseImage: Symbol('PauseImage'),
} as const;
