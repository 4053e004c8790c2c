// Small primitives shared by every credential: random strings, hashing, constant-time comparison and
// encryption at rest (AES-256-GCM under a key derived from DATABASE_SECRET_KEY).
import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniformly random string over `alphabet` (rejection-free: randomInt is unbiased). */
export function randomString(length: number, alphabet: string = ALNUM): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function sha256Hex(value: string): string {
  // One-shot hashing (Node >= 20.12) is several times cheaper than createHash for short inputs,
  // and this runs on every token-authenticated request.
  return hash('sha256', value, 'hex');
}

/** Constant-time string equality (the lengths may leak, the contents do not). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

export class SecretBox {
  readonly #key: Buffer;
  readonly #macKey: Buffer;
  constructor(secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'quay-compat', 'encryption-at-rest v1', 32));
    this.#macKey = Buffer.from(hkdfSync('sha256', secret, 'quay-compat', 'message authentication v1', 48));
  }
  /** HMAC-SHA384 of `value` under a key of this box, separated by `purpose`; 64 base64url characters. */
  mac(purpose: string, value: string): string {
    return createHmac('sha384', this.#macKey).update(`${purpose}\0${value}`).digest('base64url');
  }
  /** `v1.<iv>.<ciphertext+tag>` in base64url. */
  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }
  /** Returns undefined when the value was not produced under this key (or was tampered with). */
  decrypt(box: string): string | undefined {
    const [v, ivs, bodys] = box.split('.');
    if (v !== 'v1' || !ivs || !bodys) return undefined;
    try {
      const body = Buffer.from(bodys, 'base64url');
      const d = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(ivs, 'base64url'));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
