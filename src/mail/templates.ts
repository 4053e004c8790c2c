// The mails this server sends: a subject, a plain-text body and the same as simple HTML. Every
// interpolated value is escaped for the HTML part; links carry one-time codes, so they are built
// only here, from the server's own base URL.
import type { MailMessage } from './mailer.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function message(to: string, subject: string, lines: string[], link?: { href: string; label: string }): MailMessage {
  const text = [...lines, '', ...(link ? [`${link.label}: ${link.href}`, ''] : [])].join('\n');
  const html = [
    ...lines.map((l) => `<p>${escapeHtml(l)}</p>`),
    ...(link ? [`<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.label)}</a></p>`] : []),
  ].join('\n');
  return { to, subject, text, html };
}

export function confirmEmailMail(o: { baseUrl: string; registry: string; to: string; username: string; code: string }): MailMessage {
  return message(
    o.to,
    `Please confirm your e-mail address for ${o.registry}`,
    [`Hello ${o.username},`, `Please confirm that ${o.to} is your e-mail address on ${o.registry}.`],
    { href: `${o.baseUrl}/confirm?code=${encodeURIComponent(o.code)}`, label: 'Confirm e-mail address' },
  );
}

export function recoveryMail(o: { baseUrl: string; registry: string; to: string; username: string; code: string }): MailMessage {
  return message(
    o.to,
    `Account recovery for ${o.registry}`,
    [
      `Hello ${o.username},`,
      `Somebody asked to recover the account ${o.username} on ${o.registry}. If it was not you, ignore this mail.`,
    ],
    { href: `${o.baseUrl}/recovery?code=${encodeURIComponent(o.code)}`, label: 'Recover your account' },
  );
}

export function teamInviteMail(o: {
  baseUrl: string;
  registry: string;
  to: string;
  inviter: string;
  org: string;
  team: string;
  code: string;
}): MailMessage {
  return message(
    o.to,
    `Invitation to join team ${o.org}/${o.team} on ${o.registry}`,
    [`${o.inviter} has invited you to join the team ${o.team} of the organization ${o.org} on ${o.registry}.`],
    { href: `${o.baseUrl}/confirminvite?code=${encodeURIComponent(o.code)}`, label: 'Accept the invitation' },
  );
}

/** Sent to an organization's address when somebody asks to recover it: who can help. */
export function orgRecoveryMail(o: { baseUrl: string; registry: string; to: string; org: string; admins: string[] }): MailMessage {
  return message(
    o.to,
    `Account recovery for organization ${o.org} on ${o.registry}`,
    [
      `Somebody asked to recover the organization ${o.org} on ${o.registry}. Organizations have no password of their own:`,
      `they are managed by their administrators, ${o.admins.length ? o.admins.join(', ') : '(none)'}. Please contact one of them, or sign in as one of them.`,
    ],
    { href: `${o.baseUrl}/signin`, label: 'Sign in' },
  );
}

/** To the new address of an e-mail change (changeUserDetails): the link makes the change. */
export function changeEmailMail(o: { baseUrl: string; registry: string; to: string; username: string; code: string }): MailMessage {
  return message(
    o.to,
    `E-mail address change requested on ${o.registry}`,
    [`Hello ${o.username},`, `Somebody asked to make ${o.to} the e-mail address of the account ${o.username} on ${o.registry}. If it was not you, ignore this mail.`],
    { href: `${o.baseUrl}/confirm?code=${encodeURIComponent(o.code)}`, label: 'Confirm the new e-mail address' },
  );
}

/** To the old address once an e-mail change is confirmed (Quay's "emailchanged"). */
export function emailChangedMail(o: { registry: string; to: string; username: string; newEmail: string }): MailMessage {
  return message(o.to, `Account e-mail address changed on ${o.registry}`, [
    `Hello ${o.username},`,
    `The e-mail address of your account ${o.username} on ${o.registry} is now ${o.newEmail}. If you did not make this change, contact your administrator.`,
  ]);
}

/** To the account's address after a password change (Quay's "passwordchanged"). */
export function passwordChangedMail(o: { registry: string; to: string; username: string }): MailMessage {
  return message(o.to, `Account password changed on ${o.registry}`, [
    `Hello ${o.username},`,
    `The password of your account ${o.username} on ${o.registry} has been changed. If you did not make this change, recover your account or contact your administrator.`,
  ]);
}

/** The link to a finished (or failed) audit-log export, for exportlogs' callback_email. */
export function logExportMail(o: { registry: string; to: string; exportId: string; target: string; url?: string; status: string }): MailMessage {
  return o.url
    ? message(o.to, `Exported logs of ${o.target} on ${o.registry}`, [`The usage logs of ${o.target} you asked for are ready (export ${o.exportId}).`, 'The link works for an hour.'], {
        href: o.url,
        label: 'Download the logs',
      })
    : message(o.to, `Log export of ${o.target} on ${o.registry} failed`, [`The usage logs of ${o.target} could not be exported (export ${o.exportId}: ${o.status}).`]);
}
