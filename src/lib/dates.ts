// Quay's date format: RFC 2822 in UTC with a `-0000` zone, e.g. "Wed, 08 Jan 2025 19:32:48 -0000".
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

export function formatDate(d: Date | string | null | undefined): string | null {
  if (d === null || d === undefined) return null;
  const t = typeof d === 'string' ? new Date(d) : d;
  return `${DAYS[t.getUTCDay()]}, ${pad(t.getUTCDate())} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} -0000`;
}
