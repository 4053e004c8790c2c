// What this server accepts as an e-mail address: one address (no display name, no list), at most
// 255 characters, with a dot in the domain. Deliverability is for the mail server to judge.
const EMAIL_RE = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

export function isEmailAddress(s: string): boolean {
  return s.length <= 255 && EMAIL_RE.test(s);
}
