/** Go's time.Duration String() for whole seconds: "1s", "1m30s", "1h0m0s". */
export function goDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}

// google.golang.org/grpc/codes String(), by number.
const GRPC_CODES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];

/** A gRPC status error as Go prints it: "rpc error: code = Unavailable desc = ...". */
export const goGrpcError = (code: number, details: string): string => `rpc error: code = ${GRPC_CODES[code] ?? `Code(${code})`} desc = ${details}`;
