'use client';
import { useEffect, useRef, useState } from 'react';
import { getSocket, type ConnectionState, type ServerMessage } from '../ws/client';
import { useSession } from '../session';

/** The connection state of the page's one WebSocket. */
export function useConnectionState(): ConnectionState {
  const [state, setState] = useState<ConnectionState>('idle');
  useEffect(() => getSocket().onState(setState), []);
  return state;
}

/** Keeps the socket authenticated as the logged-in user. */
export function useSocketAuth(): void {
  const session = useSession();
  useEffect(() => {
    if (session === undefined) return;
    getSocket().setToken(session?.token ?? null);
  }, [session]);
}

/** Subscribe to a channel while mounted. onSubscribed runs on every (re)subscription. */
export function useChannel(
  channel: string | null,
  handler: (message: ServerMessage) => void,
  onSubscribed?: () => void,
): void {
  const handlerRef = useRef(handler);
  const subscribedRef = useRef(onSubscribed);
  handlerRef.current = handler;
  subscribedRef.current = onSubscribed;
  useEffect(() => {
    if (!channel) return;
    return getSocket().subscribe(
      channel,
      (m) => handlerRef.current(m),
      () => subscribedRef.current?.(),
    );
  }, [channel]);
}
