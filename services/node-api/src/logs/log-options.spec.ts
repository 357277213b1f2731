import { describe, expect, it } from 'vitest';
import { parseLogQuery, sinceUnixNano } from './log-options';

const q = (s: string) => new URLSearchParams(s);

describe('log options', () => {
  it('parseLogQuery - reads the kubelet\'s PodLogOptions', () => {
    expect(parseLogQuery(q('follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=100&sinceSeconds=5'))).toEqual({
      follow: true,
      previous: true,
      timestamps: true,
      tailLines: 10,
      limitBytes: 100,
      sinceSeconds: 5,
    });
  });

  it('parseLogQuery - takes the old "tail" for tailLines, "all" for none', () => {
    expect(parseLogQuery(q('tail=3')).tailLines).toBe(3);
    expect(parseLogQuery(q('tailLines=3&tail=all')).tailLines).toBeUndefined();
  });

  it('parseLogQuery - refuses a value that does not decode with 400, an invalid option with 422', () => {
    expect(() => parseLogQuery(q('tailLines=x'))).toThrow(expect.objectContaining({ status: 400, message: '{"message": "Unable to decode query."}' }));
    expect(() => parseLogQuery(q('follow=yes'))).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseLogQuery(q('sinceTime=yesterday'))).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseLogQuery(q('tailLines=-1'))).toThrow(expect.objectContaining({ status: 422, message: '{"message": "Invalid request."}' }));
    expect(() => parseLogQuery(q('limitBytes=0'))).toThrow(expect.objectContaining({ status: 422 }));
    expect(() => parseLogQuery(q('sinceSeconds=0'))).toThrow(expect.objectContaining({ status: 422 }));
    expect(() => parseLogQuery(q('sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z'))).toThrow(expect.objectContaining({ status: 422 }));
  });

  it('parseLogQuery - takes one stream, not with tailLines (PodLogsQuerySplitStreams)', () => {
    expect(parseLogQuery(q('stream=Stderr')).stream).toBe('Stderr');
    expect(() => parseLogQuery(q('stream=Both'))).toThrow(expect.objectContaining({ status: 422 }));
    expect(() => parseLogQuery(q('stream=Stdout&tailLines=1'))).toThrow(expect.objectContaining({ status: 422 }));
    expect(parseLogQuery(q('stream=All&tailLines=1')).tailLines).toBe(1);
  });

  it('sinceUnixNano - now minus sinceSeconds, or sinceTime (whole seconds)', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(sinceUnixNano(parseLogQuery(q('sinceSeconds=10')), now)).toBe(BigInt(now - 10_000) * 1_000_000n);
    expect(sinceUnixNano(parseLogQuery(q('sinceTime=2026-01-01T11:00:00.700Z')), now)).toBe(BigInt(Date.UTC(2026, 0, 1, 11)) * 1_000_000n);
    expect(sinceUnixNano(parseLogQuery(q('')), now)).toBe(0n);
  });
});
