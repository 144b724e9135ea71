// Who is logged in: the API token and username, kept in localStorage (per browser
// profile; Playwright contexts are separate traders). Read through useSession().
'use client';
import { useSyncExternalStore } from 'react';
import { configureAuth } from './api/client';
import type { Session } from './api/types';

const KEY = 'exchange.session';
const listeners = new Set<() => void>();
let cached: Session | null | undefined;

function read(): Session | null {
  if (typeof window === 'undefined') return null;
  if (cached !== undefined) return cached;
  try {
    const raw = window.localStorage.getItem(KEY);
    cached = raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    cached = null;
  }
  return cached;
}

function emit(): void {
  for (const l of listeners) l();
}

export function setSession(session: Session | null): void {
  cached = session;
  try {
    if (session) window.localStorage.setItem(KEY, JSON.stringify(session));
    else window.localStorage.removeItem(KEY);
  } catch {
    /* private mode: the session lives in memory */
  }
  emit();
}

export function getSession(): Session | null {
  return read();
}

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (event) => {
    if (event.key === KEY) {
      cached = undefined;
      emit();
    }
  });
  configureAuth(
    () => read()?.token ?? null,
    () => setSession(null), // the token was revoked or expired
  );
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The session, or null when logged out; undefined during server rendering and the
 * first client render (so pages show a loading state, not a flash of "log in"). */
export function useSession(): Session | null | undefined {
  return useSyncExternalStore(subscribe, read, () => undefined);
}
