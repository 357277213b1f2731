// grpc.health.v1 by hand: two one-field messages are not worth a generated package.
//   message HealthCheckRequest { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }

export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

export function encodeHealthCheckRequest(service: string): Buffer {
  if (!service) return Buffer.alloc(0);
  const bytes = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(bytes.length), bytes]);
}

export function decodeHealthCheckRequest(buf: Buffer): string {
  let service = '';
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 2 && Buffer.isBuffer(value)) service = value.toString('utf8');
  });
  return service;
}

/** The status number (0 when absent, proto3's default). */
export function decodeHealthCheckResponse(buf: Buffer): number {
  let status = 0;
  forEachField(buf, (field, wire, value) => {
    if (field === 1 && wire === 0 && typeof value === 'number') status = value;
  });
  return status;
}

export function encodeHealthCheckResponse(status: number): Buffer {
  return status === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x08]), varint(status)]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++] ?? 0;
    // Values past 2^31 only matter for unknown fields, which are skipped anyway.
    if (shift < 31) result |= (b & 0x7f) << shift;
    shift += 7;
    if ((b & 0x80) === 0) return [result >>> 0, pos];
  }
}

/** Walks a message's fields; unknown ones are skipped (wire types 0, 1, 2, 5). */
function forEachField(buf: Buffer, visit: (field: number, wire: number, value: number | Buffer) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const [v, q] = readVarint(buf, pos);
      pos = q;
      visit(field, wire, v);
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      visit(field, wire, buf.subarray(q, q + len));
      pos = q + len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}
