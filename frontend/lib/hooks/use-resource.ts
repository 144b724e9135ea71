'use client';
import { useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  set: (update: (current: T | undefined) => T | undefined) => void;
}

/** Load data with fetcher; reload on demand and, when pollMs is set, on an interval
 * (used while the WebSocket is down: REST keeps the page current). */
export function useResource<T>(
  fetcher: (() => Promise<T>) | null,
  deps: unknown[],
  pollMs: number | null = null,
): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState<boolean>(fetcher !== null);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const generation = useRef(0);

  const reload = useCallback(async () => {
    const f = fetcherRef.current;
    if (!f) return;
    const mine = ++generation.current;
    try {
      const value = await f();
      if (mine !== generation.current) return;
      setData(value);
      setError(null);
    } catch (e) {
      if (mine !== generation.current) return;
      setError(e);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (!fetcher) {
      setLoading(false);
      return;
    }
    setData(undefined);
    setLoading(true);
    setError(null);
    void reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  useEffect(() => {
    if (!pollMs || !fetcherRef.current) return;
    const id = setInterval(() => void reload(), pollMs);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pollMs, ...deps]);

  const set = useCallback((update: (current: T | undefined) => T | undefined) => {
    generation.current++; // a newer truth than any fetch in flight
    setData((current) => update(current));
    setLoading(false);
  }, []);

  return { data, error, loading, reload, set };
}
