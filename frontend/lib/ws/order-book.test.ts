import { describe, expect, it } from 'vitest';
import { aggregate, OrderBook, spread } from './order-book';

describe('order book: snapshot then updates', () => {
  it('applies a snapshot and contiguous updates, "0" removing a level', () => {
    const book = new OrderBook();
    book.applySnapshot(10, [['100.00', '1'], ['99.00', '2']], [['101.00', '3']]);
    expect(book.applyUpdate({ first_sequence: 11, sequence: 12, bids: [['100', '0'], ['99.50', '4']], asks: [] })).toBe('applied');
    expect(book.levels('bids')).toEqual([['99.5', '4'], ['99', '2']]);
    expect(book.applyUpdate({ first_sequence: 13, sequence: 13, bids: [], asks: [['100.5', '1']] })).toBe('applied');
    expect(book.levels('asks')).toEqual([['100.5', '1'], ['101', '3']]);
    expect(book.bestBid()).toBe('99.5');
    expect(book.bestAsk()).toBe('100.5');
    expect(book.sequence).toBe(13);
  });
  it('ignores updates the snapshot already covers', () => {
    const book = new OrderBook();
    book.applySnapshot(10, [['100', '1']], []);
    expect(book.applyUpdate({ first_sequence: 9, sequence: 10, bids: [['100', '0']], asks: [] })).toBe('stale');
    expect(book.levels('bids')).toEqual([['100', '1']]);
    // an update straddling the snapshot is applied (levels carry totals, not deltas)
    expect(book.applyUpdate({ first_sequence: 9, sequence: 11, bids: [['100', '2']], asks: [] })).toBe('applied');
    expect(book.levels('bids')).toEqual([['100', '2']]);
  });
  it('detects a gap and stops applying until a new snapshot', () => {
    const book = new OrderBook();
    book.applySnapshot(10, [['100', '1']], []);
    expect(book.applyUpdate({ first_sequence: 12, sequence: 12, bids: [['100', '5']], asks: [] })).toBe('gap');
    expect(book.ready).toBe(false);
    expect(book.applyUpdate({ first_sequence: 13, sequence: 13, bids: [], asks: [] })).toBe('no-snapshot');
    book.applySnapshot(13, [['100', '5']], []);
    expect(book.ready).toBe(true);
    expect(book.applyUpdate({ first_sequence: 14, sequence: 14, bids: [['101', '1']], asks: [] })).toBe('applied');
  });
  it('without first_sequence, skipped shard sequence numbers are not a gap', () => {
    const book = new OrderBook();
    book.applySnapshot(10, [], []);
    expect(book.applyUpdate({ sequence: 15, bids: [['1', '1']], asks: [] })).toBe('applied');
  });
  it('waits for a snapshot before applying anything', () => {
    expect(new OrderBook().applyUpdate({ sequence: 1, bids: [], asks: [] })).toBe('no-snapshot');
  });
});

describe('aggregation and spread', () => {
  it('groups levels by a step with cumulative totals and depth shares', () => {
    const rows = aggregate([['100.07', '1'], ['100.03', '2'], ['99.99', '1']], 'bids', '0.1', 10);
    expect(rows.map((r) => [r.price, r.quantity, r.total])).toEqual([['100', '3', '3'], ['99.9', '1', '4']]);
    expect(rows[1].depth).toBe(1);
    const asks = aggregate([['100.01', '1'], ['100.02', '1']], 'asks', '0.1', 10);
    expect(asks.map((r) => [r.price, r.quantity])).toEqual([['100.1', '2']]);
  });
  it('limits the number of rows', () => {
    expect(aggregate([['3', '1'], ['2', '1'], ['1', '1']], 'bids', null, 2)).toHaveLength(2);
  });
  it('computes the spread exactly', () => {
    expect(spread('99.99', '100.01')).toEqual({ value: '0.02', percent: '0.020' });
    expect(spread(null, '1')).toBeNull();
  });
});
