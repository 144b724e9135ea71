// A local order book kept from a depth snapshot plus updates (docs/websocket.md):
// each update covers sequences first_sequence..sequence, and the next one must start at
// the last sequence + 1. Anything else is a gap: the caller re-subscribes for a snapshot.
import Decimal from 'decimal.js';
import type { Level } from '../api/types';

export type ApplyResult = 'applied' | 'stale' | 'gap' | 'no-snapshot';

export interface DepthUpdate {
  sequence: number;
  first_sequence?: number;
  bids: Level[];
  asks: Level[];
}

export class OrderBook {
  private bids = new Map<string, string>(); // canonical price -> quantity
  private asks = new Map<string, string>();
  sequence: number | null = null;

  get ready(): boolean {
    return this.sequence !== null;
  }

  reset(): void {
    this.bids.clear();
    this.asks.clear();
    this.sequence = null;
  }

  applySnapshot(sequence: number, bids: Level[], asks: Level[]): void {
    this.bids.clear();
    this.asks.clear();
    for (const [p, q] of bids) setLevel(this.bids, p, q);
    for (const [p, q] of asks) setLevel(this.asks, p, q);
    this.sequence = sequence;
  }

  /** Apply an update, or say why not. A gap leaves the book as it was (not ready). */
  applyUpdate(update: DepthUpdate): ApplyResult {
    if (this.sequence === null) return 'no-snapshot';
    if (update.sequence <= this.sequence) return 'stale';
    // Without first_sequence the server claims no coverage: sequences are per shard, so
    // numbers skipped by other markets are not a gap.
    const first = update.first_sequence ?? this.sequence + 1;
    if (first > this.sequence + 1) {
      this.sequence = null; // unusable until a new snapshot
      return 'gap';
    }
    for (const [p, q] of update.bids) setLevel(this.bids, p, q);
    for (const [p, q] of update.asks) setLevel(this.asks, p, q);
    this.sequence = update.sequence;
    return 'applied';
  }

  /** Best first: bids high to low, asks low to high. */
  levels(side: 'bids' | 'asks', limit = Infinity): Level[] {
    const map = side === 'bids' ? this.bids : this.asks;
    const sorted = [...map.entries()].sort((a, b) =>
      side === 'bids' ? new Decimal(b[0]).cmp(a[0]) : new Decimal(a[0]).cmp(b[0]),
    );
    return (limit === Infinity ? sorted : sorted.slice(0, limit)).map(([p, q]) => [p, q]);
  }

  bestBid(): string | null {
    return this.levels('bids', 1)[0]?.[0] ?? null;
  }

  bestAsk(): string | null {
    return this.levels('asks', 1)[0]?.[0] ?? null;
  }
}

function setLevel(map: Map<string, string>, price: string, quantity: string): void {
  const key = new Decimal(price).toFixed(); // "30000.00" and "30000" are one level
  if (new Decimal(quantity).isZero()) map.delete(key);
  else map.set(key, quantity);
}

export interface AggregatedLevel {
  price: string;
  quantity: string;
  total: string; // cumulative quantity from the best level
  depth: number; // 0..1 share of the largest cumulative total shown (for depth bars)
}

/** Group levels into buckets of `step` (bids down, asks up), with cumulative totals. The
 * depth share is a display ratio only (a bar's width), never money. */
export function aggregate(levels: Level[], side: 'bids' | 'asks', step: string | null, limit: number): AggregatedLevel[] {
  const buckets: [Decimal, Decimal][] = [];
  for (const [p, q] of levels) {
    let price = new Decimal(p);
    if (step) {
      const s = new Decimal(step);
      price = price.div(s).toDecimalPlaces(0, side === 'bids' ? Decimal.ROUND_DOWN : Decimal.ROUND_UP).mul(s);
    }
    const last = buckets[buckets.length - 1];
    if (last && last[0].eq(price)) last[1] = last[1].add(q);
    else {
      if (buckets.length >= limit) break;
      buckets.push([price, new Decimal(q)]);
    }
  }
  let running = new Decimal(0);
  const rows = buckets.map(([price, qty]) => {
    running = running.add(qty);
    return { price: price.toFixed(), quantity: qty.toFixed(), total: running };
  });
  const max = running.isZero() ? new Decimal(1) : running;
  return rows.map((r) => ({
    price: r.price,
    quantity: r.quantity,
    total: r.total.toFixed(),
    depth: r.total.div(max).toNumber(),
  }));
}

/** Spread of two decimal prices and its share of the ask, or null. */
export function spread(bestBid: string | null, bestAsk: string | null): { value: string; percent: string } | null {
  if (!bestBid || !bestAsk) return null;
  const value = new Decimal(bestAsk).sub(bestBid);
  const percent = new Decimal(bestAsk).isZero() ? new Decimal(0) : value.div(bestAsk).mul(100);
  return { value: value.toFixed(), percent: percent.toFixed(3) };
}
