// The API keys page's input rules (the API checks each address again).

/** "1.2.3.4, 10.0.0.0/8 ::1" -> ["1.2.3.4", "10.0.0.0/8", "::1"]: commas or spaces. */
export function splitAddresses(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((part) => part.trim())
    .filter(Boolean);
}
