import { describe, expect, it } from 'vitest';
import { cpuPercent, mibPerSecond, parseBusyTicks, parseCpuTicks, parsePssKiB, parseVmRssKiB } from './proc';

describe('proc', () => {
  it('parseCpuTicks - utime + stime, counted from the last parenthesis of the command', () => {
    // A command with spaces and a ')' of its own: splitting on spaces from the start would misread it.
    const stat = '4242 (node a) b) S 1 4242 4242 0 -1 4194304 1000 0 0 0 731 269 0 0 20 0 11 0 123 1000000 5000 18446744073709551615';
    expect(parseCpuTicks(stat)).toBe(1000);
    expect(parseCpuTicks('1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11')).toBe(11);
  });

  it('parseCpuTicks - refuses text that is no stat line', () => {
    expect(() => parseCpuTicks('')).toThrow();
    expect(() => parseCpuTicks('1 (x) S')).toThrow();
  });

  it('parseBusyTicks - the machine\'s busy ticks: all but idle and iowait, guest time not counted twice', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const stat = 'cpu  1000 20 300 9000 50 7 13 2 400 0\ncpu0 500 10 150 4500 25 3 6 1 200 0\nintr 1\n';
    expect(parseBusyTicks(stat)).toBe(1000 + 20 + 300 + 7 + 13 + 2);
    expect(() => parseBusyTicks('intr 1\n')).toThrow();
    expect(() => parseBusyTicks('cpu  1 2 3\n')).toThrow();
  });

  it('parsePssKiB - Pss in KiB from smaps_rollup (not Pss_Anon); NaN without one', () => {
    expect(parsePssKiB('55d0c0000000-7ffd00000000 ---p 00000000 00:00 0 [rollup]\nRss:  117000 kB\nPss:   71234 kB\nPss_Anon:  60000 kB\n')).toBe(71234);
    expect(parsePssKiB('')).toBeNaN();
  });

  it('parseVmRssKiB - VmRSS in KiB; NaN without one (a zombie)', () => {
    expect(parseVmRssKiB('Name:\tnode\nVmHWM:\t  300000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t 1 kB\n')).toBe(123456);
    expect(parseVmRssKiB('Name:\tnode\nState:\tZ (zombie)\n')).toBeNaN();
  });

  it('cpuPercent - ticks over wall time in % of one core, to 0.1', () => {
    expect(cpuPercent(50, 100, 10)).toBe(5);
    expect(cpuPercent(1, 100, 3)).toBe(0.3);
    expect(cpuPercent(300, 100, 1.5)).toBe(200);
    expect(cpuPercent(5, 100, 0)).toBeNaN();
  });

  it('mibPerSecond - bytes over ms in MiB/s, to 0.1', () => {
    expect(mibPerSecond(64 * 1048576, 2000)).toBe(32);
    expect(mibPerSecond(1048576, 3000)).toBe(0.3);
    expect(mibPerSecond(1048576, 0)).toBeNaN();
  });
});
