// The one WebSocket client (docs/websocket.md): subscriptions with reference counts,
// auth, ping, reconnect with exponential backoff and jitter, and a connection state that
// the UI shows. Channel semantics (snapshots, sequences, gaps) live with their consumers
// (lib/ws/depth.ts); they call resubscribe() to get a fresh snapshot.

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ServerMessage {
  channel?: string;
  type: string; // snapshot | update | error | pong | ...
  sequence?: number;
  first_sequence?: number;
  data?: unknown;
  code?: string;
  message?: string;
}

export type MessageHandler = (message: ServerMessage) => void;

interface Subscription {
  handlers: Set<MessageHandler>;
  onSubscribed: Set<() => void>;
}

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface ClientOptions {
  createSocket?: (url: string) => SocketLike;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pingIntervalMs?: number;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

const OPEN = 1;

export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2); // "equal jitter"
}

export class ExchangeSocket {
  readonly url: string;
  private socket: SocketLike | null = null;
  private subs = new Map<string, Subscription>();
  private stateListeners = new Set<(s: ConnectionState) => void>();
  private errorListeners = new Set<(m: ServerMessage) => void>();
  private token: string | null = null;
  private attempt = 0;
  private reconnectTimer: unknown = null;
  private pingTimer: unknown = null;
  private closedByUs = false;
  private _state: ConnectionState = 'idle';
  private readonly opts: Required<ClientOptions>;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.opts = {
      createSocket: options.createSocket ?? ((u) => new WebSocket(u) as unknown as SocketLike),
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 15_000,
      pingIntervalMs: options.pingIntervalMs ?? 20_000,
      random: options.random ?? Math.random,
      setTimer: options.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: options.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  onState(listener: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this._state);
    return () => this.stateListeners.delete(listener);
  }

  onError(listener: (m: ServerMessage) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Subscribe a handler to a channel; the returned function unsubscribes it.
   * onSubscribed runs each time the subscription is (re)sent: after a reconnect or a
   * resubscribe, when a consumer may have missed messages. */
  subscribe(channel: string, handler: MessageHandler, onSubscribed?: () => void): () => void {
    let sub = this.subs.get(channel);
    const isNew = !sub;
    if (!sub) {
      sub = { handlers: new Set(), onSubscribed: new Set() };
      this.subs.set(channel, sub);
    }
    sub.handlers.add(handler);
    if (onSubscribed) sub.onSubscribed.add(onSubscribed);
    this.ensureConnected();
    if (this.isOpen) {
      if (isNew) this.sendSubscribe([channel]);
      else this.resubscribe(channel); // a fresh snapshot for the newcomer too
    }
    return () => {
      const current = this.subs.get(channel);
      if (!current) return;
      current.handlers.delete(handler);
      if (onSubscribed) current.onSubscribed.delete(onSubscribed);
      if (current.handlers.size === 0) {
        this.subs.delete(channel);
        if (this.isOpen) this.send({ op: 'unsubscribe', channels: [channel] });
      }
    };
  }

  /** Ask again for a channel (e.g. a depth gap): unsubscribe, subscribe, new snapshot. */
  resubscribe(channel: string): void {
    if (!this.subs.has(channel) || !this.isOpen) return;
    this.send({ op: 'unsubscribe', channels: [channel] });
    this.sendSubscribe([channel]);
  }

  /** Authenticate (or forget) the connection; "user" needs it. Re-sent on reconnect. */
  setToken(token: string | null): void {
    const changed = token !== this.token;
    this.token = token;
    if (!changed) return;
    if (this.isOpen) {
      if (token) {
        this.send({ op: 'auth', token });
        if (this.subs.has('user')) this.sendSubscribe(['user']);
      } else {
        // No "logout" op in the contract: start a fresh, anonymous connection.
        this.socket?.close(4000, 'logout');
      }
    }
  }

  close(): void {
    this.closedByUs = true;
    this.clearTimers();
    this.socket?.close(1000, 'bye');
    this.socket = null;
    this.setState('closed');
  }

  private get isOpen(): boolean {
    return this.socket !== null && this.socket.readyState === OPEN && this._state === 'open';
  }

  private ensureConnected(): void {
    if (this.socket || this.reconnectTimer !== null || this.closedByUs) return;
    this.connect();
  }

  private connect(): void {
    this.reconnectTimer = null;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let socket: SocketLike;
    try {
      socket = this.opts.createSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.setState('open');
      if (this.token) this.send({ op: 'auth', token: this.token });
      const channels = [...this.subs.keys()].filter((c) => c !== 'user' || this.token);
      if (channels.length) this.sendSubscribe(channels);
      this.startPing();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.dispatch(event.data);
    };
    socket.onerror = () => {
      /* onclose follows */
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopPing();
      if (this.closedByUs) {
        this.setState('closed');
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt, this.opts.backoffBaseMs, this.opts.backoffMaxMs, this.opts.random);
    this.attempt += 1;
    this.setState('reconnecting');
    this.reconnectTimer = this.opts.setTimer(() => this.connect(), delay);
  }

  private dispatch(raw: unknown): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(String(raw)) as ServerMessage;
    } catch {
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (message.type === 'ping') {
      this.send({ op: 'pong' }); // the server's liveness probe
      return;
    }
    if (message.type === 'error') {
      for (const l of this.errorListeners) l(message);
    }
    if (message.channel) {
      const sub = this.subs.get(message.channel);
      if (sub) for (const h of [...sub.handlers]) h(message);
    }
  }

  private sendSubscribe(channels: string[]): void {
    const allowed = channels.filter((c) => c !== 'user' || this.token);
    if (!allowed.length) return;
    this.send({ op: 'subscribe', channels: allowed });
    for (const c of allowed) for (const cb of this.subs.get(c)?.onSubscribed ?? []) cb();
  }

  private send(payload: Record<string, unknown>): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(payload));
  }

  private startPing(): void {
    this.stopPing();
    const tick = () => {
      this.send({ op: 'ping' });
      this.pingTimer = this.opts.setTimer(tick, this.opts.pingIntervalMs);
    };
    this.pingTimer = this.opts.setTimer(tick, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) this.opts.clearTimer(this.pingTimer);
    this.pingTimer = null;
  }

  private clearTimers(): void {
    this.stopPing();
    if (this.reconnectTimer !== null) this.opts.clearTimer(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private setState(state: ConnectionState): void {
    if (state === this._state) return;
    this._state = state;
    for (const l of this.stateListeners) l(state);
  }
}

let shared: ExchangeSocket | null = null;

/** The page's one connection, to /ws/v1 on the same origin (or NEXT_PUBLIC_API_ORIGIN). */
export function getSocket(): ExchangeSocket {
  if (!shared) {
    const origin = process.env.NEXT_PUBLIC_API_ORIGIN || window.location.origin;
    const url = origin.replace(/^http/, 'ws') + '/ws/v1';
    shared = new ExchangeSocket(url);
  }
  return shared;
}
