/** Why a request over the bus failed. Callers handle each kind. */
export type BusErrorKind = 'no-responders' | 'timeout' | 'remote' | 'bad-message' | 'closed' | 'forbidden';

export class BusError extends Error {
  override readonly name: string = 'BusError';
  constructor(
    readonly kind: BusErrorKind,
    readonly subject: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Nobody serves the subject: the service is down or not yet registered. */
export class NoRespondersError extends BusError {
  override readonly name = 'NoRespondersError';
  constructor(subject: string, options?: ErrorOptions) {
    super('no-responders', subject, `no responders for ${subject}`, options);
  }
}

/** A responder exists (or existed) but no reply came within the timeout. */
export class RequestTimeoutError extends BusError {
  override readonly name: string = 'RequestTimeoutError';
  constructor(subject: string, readonly timeoutMs: number, options?: ErrorOptions) {
    super('timeout', subject, `no reply on ${subject} within ${timeoutMs} ms`, options);
  }
}

/**
 * The responder took the request and then fell silent: it sends word that it is still
 * working every RPC_PROGRESS_MS, and none came for RPC_STALL_MS (it died, or its
 * connection did). A timeout, known early.
 */
export class ResponderLostError extends RequestTimeoutError {
  override readonly name: string = 'ResponderLostError';
  constructor(subject: string, readonly silentMs: number, options?: ErrorOptions) {
    super(subject, silentMs, options);
    this.message = `the responder to ${subject} took the request and fell silent (no word for ${silentMs} ms)`;
  }
}

/**
 * The responder answered with an error. `code` follows the CRI's (gRPC) status codes
 * where the responder maps one (e.g. 5 NOT_FOUND, 3 INVALID_ARGUMENT), else an
 * HTTP-like code from the NATS micro protocol (400 bad request, 500 internal).
 */
export class RemoteError extends BusError {
  override readonly name = 'RemoteError';
  constructor(subject: string, readonly code: number, readonly description: string) {
    super('remote', subject, `${subject}: ${description} (code ${code})`);
  }
}

/**
 * The server refused the request: this service's identity may not publish to the
 * subject (or read its replies). A wiring bug or a wrong identity, never transient.
 */
export class PermissionDeniedError extends BusError {
  override readonly name = 'PermissionDeniedError';
  constructor(subject: string, options?: ErrorOptions) {
    super('forbidden', subject, `this identity may not request ${subject}`, options);
  }
}

/** A message that does not decode as the contract's type. */
export class BadMessageError extends BusError {
  override readonly name = 'BadMessageError';
  constructor(subject: string, options?: ErrorOptions) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('bad-message', subject, `malformed message on ${subject}${cause}`, options);
  }
}

/**
 * The server refused the connection's credentials, or wanted some and got none. Not
 * worth retrying: the service must be started with its own .creds file.
 */
export class BusAuthError extends Error {
  override readonly name = 'BusAuthError';
  constructor(
    readonly servers: string,
    /** Whether credentials were presented (refused) or none were (anonymous refused). */
    readonly hadCredentials: boolean,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? ` (${options.cause.message})` : '';
    super(
      hadCredentials
        ? `NATS at ${servers} refused this service's credentials${cause}`
        : `NATS at ${servers} requires credentials and none were given${cause}`,
      options,
    );
  }
}

/**
 * The server's certificate does not verify against the CA the service was given (or
 * the system's, when none was), or a CA was given for a server without TLS.
 */
export class BusTlsError extends Error {
  override readonly name = 'BusTlsError';
  constructor(
    readonly servers: string,
    readonly caFile: string | undefined,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? ` (${options.cause.message})` : '';
    super(`NATS at ${servers}: TLS with ${caFile ? `the CA in ${caFile}` : "the system's CAs"} failed${cause}`, options);
  }
}

/**
 * The credentials given are not a NATS user's .creds file (its JWT and its seed): a
 * configuration error found before connecting, never retried.
 */
export class BusCredentialsError extends Error {
  override readonly name = 'BusCredentialsError';
  constructor(reason: string, options?: ErrorOptions) {
    super(`the credentials are not a NATS user's .creds file: ${reason}`, options);
  }
}

export const isBusCredentialsError = (err: unknown): err is BusCredentialsError => err instanceof BusCredentialsError;

export const isBusTlsError = (err: unknown): err is BusTlsError => err instanceof BusTlsError;

export const isBusAuthError = (err: unknown): err is BusAuthError => err instanceof BusAuthError;

export const isBusError = (err: unknown): err is BusError => err instanceof BusError;
export const isNoResponders = (err: unknown): err is NoRespondersError => err instanceof NoRespondersError;
export const isRequestTimeout = (err: unknown): err is RequestTimeoutError => err instanceof RequestTimeoutError;
export const isRemoteError = (err: unknown): err is RemoteError => err instanceof RemoteError;
export const isPermissionDenied = (err: unknown): err is PermissionDeniedError => err instanceof PermissionDeniedError;
export const isBadMessage = (err: unknown): err is BadMessageError => err instanceof BadMessageError;

/** Error codes a responder sends back; the gRPC codes the CRI uses, plus the micro protocol's. */
export const ErrorCode = {
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  FailedPrecondition: 9,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  BadRequest: 400,
} as const;

/** Throw this from a handler to answer with a specific code. */
export class HandlerError extends Error {
  override readonly name = 'HandlerError';
  constructor(readonly code: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
