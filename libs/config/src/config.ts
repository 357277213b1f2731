import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_ENFORCE_NODE_ALLOCATABLE, DEFAULT_EVICTION_HARD, evictionThresholds, parseEnforceNodeAllocatable, parseGracePeriods, parseMinimumReclaims, parseThresholds, type Threshold } from '@splitlet/eviction';
import { parseResourceList } from '@splitlet/quantity';

/** A configuration value that does not validate. Services exit with EXIT_CONFIG on it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

export const isConfigError = (err: unknown): err is ConfigError => err instanceof ConfigError;

/** sysexits.h EX_CONFIG: the process was started with a configuration it cannot use. */
export const EXIT_CONFIG = 78;

// A node name is a DNS-1123 subdomain (what the API server accepts for metadata.name).
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const nodeName = z
  .string()
  .max(253)
  .regex(DNS1123_SUBDOMAIN, 'must be a lower-case DNS-1123 subdomain (a-z, 0-9, "-", ".")');

const url = (protocols: readonly string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL with scheme ${protocols.join(' or ')}`);

/** Settings every splitlet service reads, from SPLITLET_* and standard variables. */
/** A string variable parsed by fn (its default: fallback); fn's error message becomes the configuration error. */
/**
 * A replica's id among its service's replicas of one node (a KV key token): letters,
 * digits, "-" and "_"; unset, `<prefix>-<8 hex>` at random.
 */
export const replicaIdVariable = (prefix: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a KV key token: letters, digits, "-" and "_"')
    .default(() => `${prefix}-${randomBytes(4).toString('hex')}`);

export const parsedVariable = <T>(fn: (text: string) => T, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return fn(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

export const commonSchema = z.object({
  SPLITLET_NODE_NAME: nodeName.default(() => hostname().toLowerCase()),
  NATS_URL: z
    .string()
    .default('nats://127.0.0.1:4222')
    .pipe(z.string().transform((v) => v.split(',').map((s) => s.trim())).pipe(z.array(url(['nats:', 'tls:', 'ws:', 'wss:'])).min(1))),
  /**
   * This service's own NATS credentials (a .creds file: user JWT and seed, 0600, minted
   * by bus-creds). Unset connects anonymously, which a bus with auth on refuses.
   */
  SPLITLET_NATS_CREDS: z
    .string()
    .refine(readable, 'cannot read the credentials file (mint it with bus-creds, see the README)')
    .optional(),
  /**
   * The CA that signed the NATS server's certificate (PEM). Set, the connection is TLS
   * and the server must present a certificate it signed; unset, a server that requires
   * TLS is verified against the system's CAs.
   */
  SPLITLET_NATS_CA: z.string().refine(readable, 'cannot read the CA file').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SPLITLET_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** A file that exists while the service runs connected to NATS (for container health checks). */
  SPLITLET_HEALTH_FILE: z.string().optional(),
  /**
   * Whether the process gives V8's freed pages back once a burst is over (libs/service
   * page-release.ts: a full collection when RSS grew 32 MiB and the process is quiet).
   */
  SPLITLET_PAGE_RELEASE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
});

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

export type CommonConfig = z.infer<typeof commonSchema>;

/**
 * Reads and validates configuration from an environment. Every bad value is
 * reported at once, by variable name, with what was expected.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // An empty variable counts as unset, as shells and compose env files make them.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const key = issue.path.length ? String(issue.path[0]) : '(environment)';
      const given = issue.path.length ? cleaned[key] : undefined;
      return `${key}: ${issue.message}${given === undefined ? '' : ` (got ${JSON.stringify(given)})`}`;
    }),
  );
}

/**
 * The kubelet's eviction flags, which registrar (the pressure conditions) and pod-sync
 * (the eviction manager) both read: give both the same values. A schema that has them
 * refines with `refineEviction`; `thresholdsOf` gives the thresholds they make.
 */
export const evictionVariables = {
  /** --eviction-hard (the kubelet's default when unset). */
  SPLITLET_EVICTION_HARD: parsedVariable(parseThresholds, DEFAULT_EVICTION_HARD),
  /** --eviction-soft: none by default. */
  SPLITLET_EVICTION_SOFT: parsedVariable(parseThresholds, ''),
  /** --eviction-soft-grace-period: each soft threshold's, e.g. memory.available=1m30s. */
  SPLITLET_EVICTION_SOFT_GRACE_PERIOD: parsedVariable(parseGracePeriods, ''),
  /** --eviction-minimum-reclaim: e.g. memory.available=0Mi,nodefs.available=500Mi. */
  SPLITLET_EVICTION_MINIMUM_RECLAIM: parsedVariable(parseMinimumReclaims, ''),
  /** --enforce-node-allocatable: with `pods` (the default), memory.available's hard thresholds hold for allocatableMemory.available too. */
  SPLITLET_ENFORCE_NODE_ALLOCATABLE: parsedVariable(parseEnforceNodeAllocatable, DEFAULT_ENFORCE_NODE_ALLOCATABLE),
  /** --system-reserved and --kube-reserved: "cpu=100m,memory=100Mi,ephemeral-storage=1Gi" (allocatable, and the pods' memory limit). */
  SPLITLET_SYSTEM_RESERVED: parsedVariable(parseResourceList, ''),
  SPLITLET_KUBE_RESERVED: parsedVariable(parseResourceList, ''),
};

type EvictionConfig = { [K in keyof typeof evictionVariables]: z.output<(typeof evictionVariables)[K]> };

/** The thresholds the eviction variables set: hard, then soft with their grace periods, each with its minimum reclaim. */
export const thresholdsOf = (c: EvictionConfig): Threshold[] =>
  evictionThresholds({
    hard: c.SPLITLET_EVICTION_HARD,
    soft: c.SPLITLET_EVICTION_SOFT,
    softGracePeriods: c.SPLITLET_EVICTION_SOFT_GRACE_PERIOD,
    minimumReclaims: c.SPLITLET_EVICTION_MINIMUM_RECLAIM,
    enforceNodeAllocatable: c.SPLITLET_ENFORCE_NODE_ALLOCATABLE,
  });

/** The memory --system-reserved and --kube-reserved hold back from the pods, in bytes. */
export const reservedMemoryOf = (c: Pick<EvictionConfig, 'SPLITLET_SYSTEM_RESERVED' | 'SPLITLET_KUBE_RESERVED'>): bigint =>
  ((c.SPLITLET_SYSTEM_RESERVED['memory'] ?? 0n) + (c.SPLITLET_KUBE_RESERVED['memory'] ?? 0n)) / 1000n;

/** A soft threshold without its grace period is a configuration error (the kubelet refuses to start). */
export function refineEviction(c: EvictionConfig, ctx: z.RefinementCtx): void {
  try {
    thresholdsOf(c);
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['SPLITLET_EVICTION_SOFT_GRACE_PERIOD'], message: (err as Error).message });
  }
}
