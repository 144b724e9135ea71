import { describe, expect, it } from 'vitest';
import { backoffDelay, ExchangeSocket, type SocketLike } from './client';
import { subscribeDepth } from './depth';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
    this.onclose?.({});
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const client = new ExchangeSocket('ws://x/ws/v1', {
    createSocket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    random: () => 1,
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => {
      const i = timers.indexOf(h as { fn: () => void; ms: number });
      if (i >= 0) timers.splice(i, 1);
    },
  });
  return { client, sockets, timers };
}

describe('WebSocket client', () => {
  it('connects on the first subscription, authenticates and subscribes when open', () => {
    const { client, sockets } = setup();
    const states: string[] = [];
    client.onState((s) => states.push(s));
    client.setToken('tok');
    client.subscribe('trades.BTC_USDT', () => {});
    client.subscribe('user', () => {});
    sockets[0].open();
    expect(sockets[0].sent).toEqual([
      { op: 'auth', token: 'tok' },
      { op: 'subscribe', channels: ['trades.BTC_USDT', 'user'] },
    ]);
    expect(states).toEqual(['idle', 'connecting', 'open']);
  });

  it('routes messages by channel and unsubscribes when the last handler leaves', () => {
    const { client, sockets } = setup();
    const got: unknown[] = [];
    const off = client.subscribe('ticker.BTC_USDT', (m) => got.push(m.data));
    sockets[0].open();
    sockets[0].receive({ channel: 'ticker.BTC_USDT', type: 'update', sequence: 1, data: { last: '1' } });
    sockets[0].receive({ channel: 'ticker.ETH_USDT', type: 'update', sequence: 1, data: { last: '2' } });
    expect(got).toEqual([{ last: '1' }]);
    off();
    expect(sockets[0].sent.at(-1)).toEqual({ op: 'unsubscribe', channels: ['ticker.BTC_USDT'] });
  });

  it('reconnects with growing backoff and resubscribes everything', () => {
    const { client, sockets, timers } = setup();
    let resent = 0;
    client.subscribe('trades.BTC_USDT', () => {}, () => resent++);
    sockets[0].open();
    expect(resent).toBe(1);
    sockets[0].close();
    expect(client.state).toBe('reconnecting');
    const reconnect = timers.find((t) => t.ms === 500)!;
    reconnect.fn();
    sockets[1].close(); // fails again: longer wait
    expect(timers.some((t) => t.ms === 1000)).toBe(true);
    timers.find((t) => t.ms === 1000)!.fn();
    sockets[2].open();
    expect(client.state).toBe('open');
    expect(sockets[2].sent).toContainEqual({ op: 'subscribe', channels: ['trades.BTC_USDT'] });
    expect(resent).toBe(2);
  });

  it('caps the backoff', () => {
    expect(backoffDelay(0, 500, 15000, () => 0)).toBe(250);
    expect(backoffDelay(10, 500, 15000, () => 1)).toBe(15000);
  });

  it('keeps a depth book in sequence and resubscribes on a gap', () => {
    const { client, sockets } = setup();
    const seen: string[][] = [];
    let gaps = 0;
    subscribeDepth(client, 'BTC_USDT', (book) => seen.push(book.levels('bids').map(([p, q]) => `${p}x${q}`)), () => gaps++);
    sockets[0].open();
    const s = sockets[0];
    s.receive({ channel: 'depth.BTC_USDT', type: 'snapshot', sequence: 5, data: { bids: [['10', '1']], asks: [] } });
    s.receive({ channel: 'depth.BTC_USDT', type: 'update', first_sequence: 6, sequence: 7, data: { bids: [['10', '2']], asks: [] } });
    s.receive({ channel: 'depth.BTC_USDT', type: 'update', first_sequence: 9, sequence: 9, data: { bids: [['10', '9']], asks: [] } });
    expect(gaps).toBe(1);
    expect(s.sent.slice(-2)).toEqual([
      { op: 'unsubscribe', channels: ['depth.BTC_USDT'] },
      { op: 'subscribe', channels: ['depth.BTC_USDT'] },
    ]);
    s.receive({ channel: 'depth.BTC_USDT', type: 'snapshot', sequence: 9, data: { bids: [['10', '9']], asks: [] } });
    expect(seen).toEqual([['10x1'], ['10x2'], ['10x9']]);
  });

  it('sends errors to the error listeners without closing', () => {
    const { client, sockets } = setup();
    const errors: string[] = [];
    client.onError((m) => errors.push(m.code ?? ''));
    client.subscribe('nope', () => {});
    sockets[0].open();
    sockets[0].receive({ type: 'error', code: 'unknown_channel', message: 'no' });
    expect(errors).toEqual(['unknown_channel']);
    expect(client.state).toBe('open');
  });
});

describe('WebSocket client liveness', () => {
  it('answers the server ping with a pong', () => {
    const { client, sockets } = setup();
    client.subscribe('trades.BTC_USDT', () => {});
    sockets[0].open();
    sockets[0].receive({ type: 'ping', time: 1 });
    expect(sockets[0].sent.at(-1)).toEqual({ op: 'pong' });
  });
});
