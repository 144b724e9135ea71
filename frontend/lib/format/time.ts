/** Epoch ms from the wire's ISO 8601 strings or epoch numbers. */
export function toMillis(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value < 1e11 ? value * 1000 : value;
  if (/^\d+$/.test(value)) return toMillis(Number(value));
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function formatTime(value: string | number | null | undefined): string {
  const ms = toMillis(value);
  if (ms === null) return '—';
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export function formatDateTime(value: string | number | null | undefined): string {
  const ms = toMillis(value);
  if (ms === null) return '—';
  const d = new Date(ms);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}
