// Outbound mail: one SMTP transport per process (nodemailer), built from MAIL_* only when
// FEATURE_MAILING is on. Callers send after their change has committed (see sendOrUndo), so a slow
// mail server never holds a database transaction open.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config.js';
import { ApiError } from '../lib/api-error.js';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export class MailError extends Error {}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** The SMTP mailer described by the config; undefined when FEATURE_MAILING is off. */
export function createMailer(config: Config): Mailer | undefined {
  if (!config.FEATURE_MAILING || !config.MAIL_SERVER) return undefined;
  const transport: Transporter = nodemailer.createTransport({
    host: config.MAIL_SERVER,
    port: config.MAIL_PORT,
    secure: config.MAIL_PORT === 465,
    requireTLS: config.MAIL_USE_TLS && config.MAIL_PORT !== 465,
    ignoreTLS: !config.MAIL_USE_TLS,
    auth: config.MAIL_USE_AUTH ? { user: config.MAIL_USERNAME!, pass: config.MAIL_PASSWORD! } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    // Secrets (codes in links, credentials) must never reach the logs.
    logger: false,
    debug: false,
  });
  return {
    async send(m) {
      try {
        await transport.sendMail({ from: config.MAIL_DEFAULT_SENDER, to: m.to, subject: m.subject, text: m.text, html: m.html });
      } catch (err) {
        // The transport's message names the server and the failure, never the message body.
        throw new MailError(`could not send mail through ${config.MAIL_SERVER}:${config.MAIL_PORT}: ${(err as Error).message}`);
      }
    },
    close: () => transport.close(),
  };
}

/**
 * Sends a mail that a change has just committed (an invite, a confirmation code). When the mail
 * server refuses it, `undo` (if any) removes that change, so no code exists that nobody received,
 * and the client gets Quay's downstream_issue error (520) to retry.
 */
export async function deliverOrUndo(
  mailer: Mailer,
  log: { warn(obj: object, msg: string): void },
  mail: MailMessage,
  undo?: () => Promise<unknown>,
): Promise<void> {
  try {
    await mailer.send(mail);
  } catch (err) {
    if (!(err instanceof MailError)) throw err;
    log.warn({ reason: err.message }, undo ? 'mail not sent; change undone' : 'mail not sent');
    await undo?.();
    throw new ApiError('downstream_issue', 520, 'The e-mail could not be sent. Please try again later.');
  }
}
