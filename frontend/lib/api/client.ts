// The one fetch wrapper: base URL, auth header, JSON, error normalisation.
import { ApiError } from './errors';

/** Same origin by default (Django serves the app); NEXT_PUBLIC_API_ORIGIN for `next dev`. */
export const API_ORIGIN = process.env.NEXT_PUBLIC_API_ORIGIN ?? '';
export const API_BASE = `${API_ORIGIN}/api/v1`;

type TokenSource = () => string | null;
let tokenSource: TokenSource = () => null;
let onUnauthorized: () => void = () => {};

/** lib/session registers where the token lives and what a 401 does. */
export function configureAuth(source: TokenSource, unauthorized: () => void): void {
  tokenSource = source;
  onUnauthorized = unauthorized;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  auth?: boolean;
  signal?: AbortSignal;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, query, auth = true, signal } = options;
  let url = API_BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes('?') ? '&' : '?') + text;
  }
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = auth ? tokenSource() : null;
  if (token) headers.Authorization = `Token ${token}`;

  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', // token auth only: no session cookie, no CSRF
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    throw new ApiError(0, 'network_error', 'Cannot reach the exchange.');
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      ?.error;
    if (response.status === 401 && token) onUnauthorized();
    throw new ApiError(
      response.status,
      err?.code ?? (response.status === 404 ? 'not_found' : `http_${response.status}`),
      err?.message ?? response.statusText ?? 'Request failed',
      err?.details ?? {},
    );
  }
  return data as T;
}
