// Outbound HTTP to addresses users choose (notification webhooks, Slack callbacks, log-export
// callbacks): the SSRF guard. A URL is accepted only when it is http(s) and every address its host
// resolves to is a public unicast address, unless the host or the address is listed in
// NOTIFICATION_ALLOWED_HOSTS (host names, IP addresses or CIDR ranges).
//
//   checkOutboundUrl(url)  parse → scheme → resolve (all addresses) → classify each → one to use
//   postJson(url, body)    check, then connect to that very address (no second resolution, so a
//                          DNS answer that changes between check and connect cannot redirect the
//                          request), bounded by a timeout, redirects never followed
//
// Refused (unless allowed): loopback, unspecified, private (RFC 1918, IPv6 ULA), shared address
// space (CGNAT 100.64/10), link-local (which holds the cloud metadata address 169.254.169.254 and
// AWS's fd00:ec2::254 is ULA), multicast, broadcast and reserved/documentation ranges. IPv6 forms
// that carry an IPv4 address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96,
// 6to4 2002::/16) are judged by that IPv4 address. Quay refuses only the names `localhost` and
// `127.0.0.1` (quay/quay:notifications/notificationmethod.py HOSTNAME_BLACKLIST).
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

export interface OutboundConfig {
  /** Host names, IP addresses and CIDR ranges that may be reached even when not public. */
  NOTIFICATION_ALLOWED_HOSTS: readonly string[];
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export type OutboundCheck = { ok: true; url: URL; address: string } | { ok: false; reason: string };

const defaultResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

const REFUSED_V4: [string, number, string][] = [
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a shared (CGNAT) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address (cloud metadata lives here)'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'a reserved address'],
  ['192.0.2.0', 24, 'a documentation address'],
  ['192.88.99.0', 24, 'a reserved address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a reserved (benchmarking) address'],
  ['198.51.100.0', 24, 'a documentation address'],
  ['203.0.113.0', 24, 'a documentation address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved address'],
];
const REFUSED_V6: [string, number, string][] = [
  ['::', 128, 'an unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['100::', 64, 'a discard address'],
  ['2001:db8::', 32, 'a documentation address'],
  ['fc00::', 7, 'a private (unique local) address'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local address'],
  ['ff00::', 8, 'a multicast address'],
];

const refusedV4 = REFUSED_V4.map(([net, prefix, why]) => {
  const b = new BlockList();
  b.addSubnet(net, prefix, 'ipv4');
  return { b, why };
});
const refusedV6 = REFUSED_V6.map(([net, prefix, why]) => {
  const b = new BlockList();
  b.addSubnet(net, prefix, 'ipv6');
  return { b, why };
});

/** The 16 bytes of an IPv6 address (already validated by isIP), or undefined. */
function v6Bytes(addr: string): number[] | undefined {
  let s = addr;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted IPv4 part becomes two hex groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const o = dotted[2].split('.').map(Number);
    s = `${dotted[1]}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array(fill).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    if (!Number.isFinite(n)) return undefined;
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(addr: string): string | undefined {
  const b = v6Bytes(addr);
  if (!b) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const v4 = (at: number) => b.slice(at, at + 4).join('.');
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return v4(12); // ::ffff:a.b.c.d
  if (zero(0, 12) && !(b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15] <= 1)) return v4(12); // ::a.b.c.d (not :: or ::1)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return v4(12); // 64:ff9b::/96
  if (b[0] === 0x20 && b[1] === 0x02) return v4(2); // 2002:aabb:ccdd::/48
  return undefined;
}

/** Why `address` may not be reached (undefined: it is a public unicast address). */
export function refusedReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) {
    if (address === '255.255.255.255') return 'a broadcast address';
    return refusedV4.find((r) => r.b.check(address, 'ipv4'))?.why;
  }
  if (family === 6) {
    const v4 = embeddedIPv4(address);
    if (v4) {
      const why = refusedReason(v4);
      return why ? `${why} (${v4}, inside an IPv6 address)` : undefined;
    }
    const bare = address.includes('%') ? address.slice(0, address.indexOf('%')) : address;
    return refusedV6.find((r) => r.b.check(bare, 'ipv6'))?.why;
  }
  return 'not an IP address';
}

interface AllowList {
  hosts: Set<string>;
  nets: BlockList;
}

const allowCache = new WeakMap<readonly string[], AllowList>();

/** Checks the entries of NOTIFICATION_ALLOWED_HOSTS; returns the bad ones (for config validation). */
export function invalidAllowEntries(entries: readonly string[]): string[] {
  return entries.filter((e) => {
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(e);
    if (cidr) {
      const fam = isIP(cidr[1]);
      const bits = Number(cidr[2]);
      return !(fam === 4 ? bits <= 32 : fam === 6 ? bits <= 128 : false);
    }
    return !(isIP(e) || /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(e));
  });
}

function allowList(entries: readonly string[]): AllowList {
  let a = allowCache.get(entries);
  if (a) return a;
  a = { hosts: new Set(), nets: new BlockList() };
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(e);
    const fam = isIP(cidr ? cidr[1] : e);
    if (cidr && fam) a.nets.addSubnet(cidr[1], Number(cidr[2]), fam === 4 ? 'ipv4' : 'ipv6');
    else if (fam) a.nets.addAddress(e, fam === 4 ? 'ipv4' : 'ipv6');
    else a.hosts.add(e.replace(/\.$/, ''));
  }
  allowCache.set(entries, a);
  return a;
}

function allowedAddress(a: AllowList, address: string): boolean {
  const fam = isIP(address);
  if (!fam) return false;
  if (a.nets.check(address, fam === 4 ? 'ipv4' : 'ipv6')) return true;
  const v4 = fam === 6 ? embeddedIPv4(address) : undefined;
  return v4 !== undefined && a.nets.check(v4, 'ipv4');
}

/**
 * Whether `url` may be called: http or https, and every address of its host public (or allowed).
 * On success, `address` is the one to connect to. Never throws.
 */
export async function checkOutboundUrl(url: string, config: OutboundConfig, opts: { resolve?: Resolver } = {}): Promise<OutboundCheck> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, reason: 'only http and https URLs may be used' };
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase().replace(/\.$/, '');
  if (!host) return { ok: false, reason: 'the URL has no host' };
  const allow = allowList(config.NOTIFICATION_ALLOWED_HOSTS);
  const hostAllowed = allow.hosts.has(host);

  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await (opts.resolve ?? defaultResolver)(host)).map((r) => r.address);
    } catch {
      return { ok: false, reason: `the host ${host} could not be resolved` };
    }
    if (addresses.length === 0) return { ok: false, reason: `the host ${host} could not be resolved` };
  }
  if (!hostAllowed) {
    // Every address must pass: a host with one public and one private record could be reached
    // at either, depending on who resolves it.
    for (const address of addresses) {
      if (allowedAddress(allow, address)) continue;
      const why = refusedReason(address);
      if (why) return { ok: false, reason: `${host === address ? address : `${host} resolves to ${address}`}, ${why}; add it to NOTIFICATION_ALLOWED_HOSTS to allow it` };
    }
  }
  return { ok: true, url: u, address: addresses[0] };
}

export class OutboundError extends Error {
  override name = 'OutboundError';
}

export interface PostOptions {
  config: OutboundConfig;
  headers?: Record<string, string>;
  /** Whole request, connect to last byte (default 10 s, Quay's NOTIFICATION_SEND_TIMEOUT). */
  timeoutMs?: number;
  signal?: AbortSignal;
  resolve?: Resolver;
  /** Response bytes kept (default 8 KiB); the rest is read and dropped. */
  maxResponseBytes?: number;
}

export interface PostResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The start of the response body, for diagnostics. */
  body: string;
}

/**
 * POSTs `body` as JSON (a string is sent as is) to `url` after checkOutboundUrl, connecting to the
 * address that check approved. Any status is returned (a redirect is not followed: the caller sees
 * the 3xx); refusals, connection errors and the timeout throw OutboundError.
 */
export async function postJson(url: string, body: unknown, opts: PostOptions): Promise<PostResult> {
  const checked = await checkOutboundUrl(url, opts.config, { resolve: opts.resolve });
  if (!checked.ok) throw new OutboundError(`refused ${safeUrl(url)}: ${checked.reason}`);
  const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const { url: u, address } = checked;
  const family = isIP(address);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxKept = opts.maxResponseBytes ?? 8192;
  const mod = u.protocol === 'https:' ? https : http;

  return new Promise<PostResult>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, r?: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(r!);
    };
    const req = mod.request(
      {
        protocol: u.protocol,
        hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: 'POST',
        // The approved address, whatever the host resolves to now; TLS still verifies the
        // certificate against the host name (servername defaults to it).
        lookup: ((_host: string, o: { all?: boolean }, cb: (...args: unknown[]) => void) => {
          if (o && o.all) cb(null, [{ address, family }]);
          else cb(null, address, family);
        }) as never,
        headers: {
          'content-type': 'application/json',
          'content-length': String(payload.length),
          'user-agent': 'quay-compatible-registry-notifications',
          ...(u.username ? { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` } : {}),
          ...opts.headers,
        },
        agent: false,
      },
      (res) => {
        const kept: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < maxKept) kept.push(c.subarray(0, maxKept - size));
          size += c.length;
        });
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(kept).toString('utf8') }));
        res.on('error', (err) => finish(new OutboundError(`reading the response of ${safeUrl(url)} failed: ${err.message}`)));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish(new OutboundError(`${safeUrl(url)} did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onAbort = () => {
      req.destroy();
      finish(new OutboundError(`the request to ${safeUrl(url)} was aborted`));
    };
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(new OutboundError(`POST ${safeUrl(url)} failed: ${err.message}`)));
    req.end(payload);
  });
}

/** The URL without credentials, query or fragment, for messages and logs (Slack URLs hold secrets in the path too). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? '/…' : '/'}`;
  } catch {
    return '(invalid URL)';
  }
}
