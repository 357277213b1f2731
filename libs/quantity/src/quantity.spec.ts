import { describe, expect, it } from 'vitest';
import { formatQuantity, parseQuantity, parseResourceList, units } from './quantity';

describe('kube quantity', () => {
  it.each([
    ['100Mi', 100n * 1024n * 1024n * 1000n],
    ['1Gi', 1024n ** 3n * 1000n],
    ['250m', 250n],
    ['1.5', 1500n],
    ['2', 2000n],
    ['1k', 1_000_000n],
    ['1e3', 1_000_000n],
    ['0.1m', 1n], // rounds up to 1m, as the API server does
    ['500n', 1n],
  ])('parseQuantity - %s', (text, milli) => {
    expect(parseQuantity(text)).toBe(milli);
  });

  it('parseQuantity - refuses what is not a quantity', () => {
    expect(() => parseQuantity('10%')).toThrow(/quantities must match/);
    expect(() => parseQuantity('lots')).toThrow(/"lots"/);
  });

  it.each([
    [units(16_697_028_608), 'BinarySI', '16305692Ki'],
    [units(1024 ** 3), 'BinarySI', '1Gi'],
    [units(94_580_335_255), 'BinarySI', '94580335255'],
    [units(2), 'DecimalSI', '2'],
    [units(110), 'DecimalSI', '110'],
    [1500n, 'DecimalSI', '1500m'],
    [0n, 'BinarySI', '0'],
  ] as const)('formatQuantity - %s as %s is %s', (milli, format, text) => {
    expect(formatQuantity(milli, format)).toBe(text);
  });

  it('parseResourceList - reads the kubelet\'s name=quantity list', () => {
    expect(parseResourceList('cpu=100m, memory=1Gi')).toEqual({ cpu: 100n, memory: 1024n ** 3n * 1000n });
    expect(() => parseResourceList('cpu')).toThrow(/name=quantity/);
  });
});
