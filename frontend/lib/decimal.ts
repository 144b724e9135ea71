// Money and quantities stay decimal strings on the wire and decimal.js values in the UI:
// never float arithmetic.
import Decimal from 'decimal.js';

export { Decimal };

Decimal.set({ precision: 40, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -30, toExpPos: 40 });

export type DecimalLike = Decimal | string | number;

/** A Decimal from a user's or the server's string; null when it is not a finite number. */
export function parseDecimal(value: string | null | undefined): Decimal | null {
  if (value === null || value === undefined) return null;
  const text = String(value).trim().replace(/,/g, '');
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  const d = new Decimal(text);
  return d.isFinite() ? d : null;
}

/** Number of decimals a step such as "0.01" or "0.00001" implies (1 -> 0). */
export function stepDecimals(step: DecimalLike): number {
  const d = new Decimal(step);
  return Math.max(0, d.decimalPlaces());
}

/** Snap a value to a multiple of step. mode 'down' (quantities: never more than asked),
 * 'nearest' (prices typed by hand) or 'up'. */
export function snapToStep(
  value: DecimalLike,
  step: DecimalLike,
  mode: 'down' | 'nearest' | 'up' = 'nearest',
): Decimal {
  const v = new Decimal(value);
  const s = new Decimal(step);
  if (s.lte(0)) return v;
  const rounding =
    mode === 'down' ? Decimal.ROUND_DOWN : mode === 'up' ? Decimal.ROUND_UP : Decimal.ROUND_HALF_UP;
  return v.div(s).toDecimalPlaces(0, rounding).mul(s);
}

/** True when value is an exact multiple of step. */
export function isOnStep(value: DecimalLike, step: DecimalLike): boolean {
  const s = new Decimal(step);
  if (s.lte(0)) return true;
  return new Decimal(value).mod(s).isZero();
}

/** A snapped value as a plain string with the step's number of decimals ("0.10000"). */
export function snapString(
  value: DecimalLike,
  step: DecimalLike,
  mode: 'down' | 'nearest' | 'up' = 'nearest',
): string {
  return snapToStep(value, step, mode).toFixed(stepDecimals(step));
}

/** Plain fixed-point text with thousands separators: formatDecimal("12345.6", 2) ->
 * "12,345.60". Without decimals, the value's own decimals (trailing zeros dropped). */
export function formatDecimal(
  value: DecimalLike | null | undefined,
  decimals?: number,
  { group = true }: { group?: boolean } = {},
): string {
  if (value === null || value === undefined || value === '') return '—';
  let d: Decimal;
  try {
    d = new Decimal(value);
  } catch {
    return '—';
  }
  if (!d.isFinite()) return '—';
  let text = decimals === undefined ? trimZeros(d.toFixed()) : d.toFixed(decimals, Decimal.ROUND_HALF_UP);
  if (text === '-0' || /^-0\.0*$/.test(text)) text = text.slice(1);
  if (!group) return text;
  const negative = text.startsWith('-');
  const [int, frac] = (negative ? text.slice(1) : text).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return (negative ? '-' : '') + grouped + (frac !== undefined ? '.' + frac : '');
}

/** "1.5000" -> "1.5", "2.000" -> "2". */
export function trimZeros(text: string): string {
  if (!text.includes('.')) return text;
  return text.replace(/\.?0+$/, '');
}

/** A percentage with a sign: "+1.23%", "-0.50%". */
export function formatPercent(value: DecimalLike | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || value === '') return '—';
  const d = new Decimal(value);
  const text = formatDecimal(d.abs(), decimals);
  if (d.isZero()) return `${formatDecimal(0, decimals)}%`;
  return `${d.isNeg() ? '-' : '+'}${text}%`;
}

/** Compact volume text: 1234567 -> "1.23M". */
export function formatCompact(value: DecimalLike | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const d = new Decimal(value);
  const units: [string, Decimal][] = [
    ['B', new Decimal(1e9)],
    ['M', new Decimal(1e6)],
    ['K', new Decimal(1e3)],
  ];
  for (const [suffix, size] of units) {
    if (d.abs().gte(size)) return `${formatDecimal(d.div(size), 2)}${suffix}`;
  }
  if (d.isZero()) return '0';
  return formatDecimal(d, d.abs().lt(1) ? 6 : 2);
}

/** price * quantity as a string (exact). */
export function mulString(a: DecimalLike, b: DecimalLike): string {
  return new Decimal(a).mul(b).toFixed();
}

/** Compare two decimal strings: -1, 0 or 1. */
export function cmp(a: DecimalLike, b: DecimalLike): number {
  return new Decimal(a).cmp(b);
}

export function isZero(a: DecimalLike): boolean {
  return new Decimal(a).isZero();
}

/** A 24 h change's colour: '' when there is none (null: no trade in the window) or it is
 * zero ("0.00"), else 'up' or 'down'. */
export function changeDirection(change: string | null | undefined): 'up' | 'down' | '' {
  if (change === null || change === undefined || change === '') return '';
  const d = new Decimal(change);
  if (d.isZero()) return '';
  return d.isNeg() ? 'down' : 'up';
}
