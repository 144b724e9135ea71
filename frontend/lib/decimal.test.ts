import { describe, expect, it } from 'vitest';
import {
  changeDirection,
  formatCompact,
  formatDecimal,
  formatPercent,
  isOnStep,
  parseDecimal,
  snapString,
  snapToStep,
  stepDecimals,
} from './decimal';

describe('decimal formatting', () => {
  it('groups thousands and pads to the decimals asked', () => {
    expect(formatDecimal('12345.6', 2)).toBe('12,345.60');
    expect(formatDecimal('1234567.891', 2)).toBe('1,234,567.89');
    expect(formatDecimal('0.1', 8)).toBe('0.10000000');
    expect(formatDecimal('-1234.5', 1)).toBe('-1,234.5');
  });
  it('keeps its own decimals without trailing zeros when none are asked', () => {
    expect(formatDecimal('30000.10000000')).toBe('30,000.1');
    expect(formatDecimal('2.000')).toBe('2');
  });
  it('is exact where floats are not', () => {
    expect(formatDecimal(parseDecimal('0.1')!.add('0.2'), 20, { group: false })).toBe('0.30000000000000000000');
  });
  it('renders missing values as a dash and negative zero as zero', () => {
    expect(formatDecimal(null)).toBe('—');
    expect(formatDecimal('-0.001', 2)).toBe('0.00');
  });
  it('signs percentages and compacts volumes', () => {
    expect(formatPercent('1.234')).toBe('+1.23%');
    expect(formatPercent('-0.5')).toBe('-0.50%');
    expect(formatPercent('0')).toBe('0.00%');
    expect(formatCompact('1234567')).toBe('1.23M');
    expect(formatCompact('999')).toBe('999.00');
  });
  it('colours a 24 h change by its sign, none when null or zero', () => {
    expect(changeDirection('1.50')).toBe('up');
    expect(changeDirection('-0.01')).toBe('down');
    expect(changeDirection('0.00')).toBe('');
    expect(changeDirection(null)).toBe('');
  });
  it('parses only plain numbers', () => {
    expect(parseDecimal('1,000.5')!.toFixed()).toBe('1000.5');
    expect(parseDecimal('abc')).toBeNull();
    expect(parseDecimal('1.2.3')).toBeNull();
    expect(parseDecimal('')).toBeNull();
  });
});

describe('snapping to tick and lot', () => {
  it('snaps prices to the nearest tick and quantities down to the lot', () => {
    expect(snapString('30000.126', '0.01', 'nearest')).toBe('30000.13');
    expect(snapString('30000.124', '0.01', 'nearest')).toBe('30000.12');
    expect(snapString('0.123456789', '0.00001', 'down')).toBe('0.12345');
    expect(snapString('5', '0.5', 'up')).toBe('5.0');
    expect(snapToStep('7', '5', 'down').toFixed()).toBe('5');
  });
  it('knows the decimals of a step and whether a value is on it', () => {
    expect(stepDecimals('0.00001')).toBe(5);
    expect(stepDecimals('1')).toBe(0);
    expect(isOnStep('30000.12', '0.01')).toBe(true);
    expect(isOnStep('30000.125', '0.01')).toBe(false);
    expect(isOnStep('0.3', '0.1')).toBe(true); // 0.1 + 0.2 style traps do not apply
  });
});
