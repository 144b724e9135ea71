'use client';
import { api, type Market } from '../api';
import { useResource } from './use-resource';

let cache: Promise<Market[]> | null = null;

/** The market catalogue (loaded once per page; a failure is retried on reload). */
export function loadMarkets(): Promise<Market[]> {
  if (!cache) {
    cache = api.markets().catch((e) => {
      cache = null;
      throw e;
    });
  }
  return cache;
}

export function useMarkets() {
  return useResource<Market[]>(loadMarkets, []);
}
