// A depth.<SYMBOL> subscription kept as a local OrderBook: snapshot, then updates in
// sequence; on a gap, re-subscribe for a new snapshot.
import type { Level } from '../api/types';
import type { ExchangeSocket, ServerMessage } from './client';
import { OrderBook } from './order-book';

export interface DepthListener {
  (book: OrderBook): void;
}

interface DepthData {
  bids?: Level[];
  asks?: Level[];
  first_sequence?: number;
  sequence?: number;
}

export function subscribeDepth(
  socket: Pick<ExchangeSocket, 'subscribe' | 'resubscribe'>,
  symbol: string,
  onBook: DepthListener,
  onGap?: () => void,
): () => void {
  const channel = `depth.${symbol}`;
  const book = new OrderBook();
  const handle = (message: ServerMessage) => {
    const data = (message.data ?? {}) as DepthData;
    const sequence = message.sequence ?? data.sequence;
    if (sequence === undefined) return;
    if (message.type === 'snapshot') {
      book.applySnapshot(sequence, data.bids ?? [], data.asks ?? []);
      onBook(book);
      return;
    }
    if (message.type !== 'update') return;
    const result = book.applyUpdate({
      sequence,
      first_sequence: message.first_sequence ?? data.first_sequence,
      bids: data.bids ?? [],
      asks: data.asks ?? [],
    });
    if (result === 'applied') onBook(book);
    else if (result === 'gap') {
      onGap?.();
      socket.resubscribe(channel);
    }
  };
  // Each (re)subscription brings a snapshot: until then, updates wait for it.
  return socket.subscribe(channel, handle, () => book.reset());
}
