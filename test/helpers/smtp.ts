// A real SMTP server on 127.0.0.1 (smtp-server) that keeps every message it receives, parsed
// (mailparser), so tests can read the mails the app sends and follow their links.
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  parsed: ParsedMail;
}

export interface Mailbox {
  port: number;
  /** Everything received so far, oldest first. */
  mails: ReceivedMail[];
  /** Resolves with the first mail to `to` (received or yet to come) that `match` accepts. */
  waitFor(to: string, match?: (m: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Config for testApp(): mail on, sent to this server without TLS or auth. */
  config(): { FEATURE_MAILING: true; MAIL_SERVER: string; MAIL_PORT: number; MAIL_USE_TLS: false };
  /** Makes the server refuse the next messages (RCPT TO answered 550) until called with false. */
  refuse(on: boolean): void;
  /** Lets the process exit while the server still listens. */
  unref(): void;
  close(): Promise<void>;
}

export async function startMailbox(): Promise<Mailbox> {
  const mails: ReceivedMail[] = [];
  const waiters: { to: string; match: (m: ReceivedMail) => boolean; resolve: (m: ReceivedMail) => void }[] = [];
  let refusing = false;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(_address, _session, cb) {
      if (refusing) return cb(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      simpleParser(stream)
        .then((parsed) => {
          const mail: ReceivedMail = {
            to: session.envelope.rcptTo.map((r) => r.address),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            parsed,
          };
          mails.push(mail);
          for (const w of [...waiters]) {
            if (mail.to.includes(w.to) && w.match(mail)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(mail);
            }
          }
          cb();
        })
        .catch(cb);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    waitFor(to, match = () => true, timeoutMs = 5000) {
      const found = mails.find((m) => m.to.includes(to) && match(m));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { to, match, resolve: (m: ReceivedMail) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no mail to ${to} within ${timeoutMs} ms (received: ${mails.map((m) => m.to.join(',')).join('; ') || 'none'})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    config: () => ({ FEATURE_MAILING: true, MAIL_SERVER: '127.0.0.1', MAIL_PORT: port, MAIL_USE_TLS: false }),
    refuse(on) {
      refusing = on;
    },
    unref: () => server.server.unref(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The `code` query parameter of the first link to `path` in the mail's text. */
export function codeFromMail(mail: ReceivedMail, path: string): string {
  const m = new RegExp(`https?://[^\\s]+${path.replace(/[/]/g, '\\/')}\\?code=([^\\s&]+)`).exec(mail.text);
  if (!m) throw new Error(`no ${path} link in mail: ${mail.text}`);
  return decodeURIComponent(m[1]!);
}

let shared: Promise<Mailbox> | undefined;
/**
 * One mailbox for a whole test file's module graph (the security matrix's section files export a
 * config at import time). Its socket does not keep the process alive.
 */
export function sharedMailbox(): Promise<Mailbox> {
  shared ??= startMailbox().then((m) => {
    m.unref();
    return m;
  });
  return shared;
}
