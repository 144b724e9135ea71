// Klines (decimal strings) to the chart library's bars. The chart draws with numbers:
// this conversion is for display only, never for money arithmetic.
import type { Kline } from '../api/types';
import { toMillis } from './time';

export interface Bar {
  time: number; // UTC seconds
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  up: boolean;
}

export function toBar(k: Kline): Bar | null {
  const ms = toMillis(k.open_time);
  if (ms === null) return null;
  const open = Number(k.open);
  const close = Number(k.close);
  return { time: Math.floor(ms / 1000), open, high: Number(k.high), low: Number(k.low), close, volume: Number(k.volume), up: close >= open };
}

/** Oldest first, one bar per time (the last one wins). */
export function toBars(klines: Kline[]): Bar[] {
  const byTime = new Map<number, Bar>();
  for (const k of klines) {
    const b = toBar(k);
    if (b) byTime.set(b.time, b);
  }
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}
