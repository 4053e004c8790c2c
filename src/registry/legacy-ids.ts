// Docker v1 "image ids" for the 3.6 legacy views (part1 §6): opaque 64-hex strings that name a
// layer of a manifest, reversibly, per install. (manifest row id, layer index) is one AES block,
// encrypted under a key derived from the instance secret, followed by 16 bytes of an HMAC of it:
// ids cannot be forged or enumerated, and decoding one that this install did not make fails.
// Layer index 0 is the leaf (top) layer: its id is the manifest's "root image id".
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../auth/crypto.js';

export class LegacyImageIds {
  readonly #key: Buffer;
  readonly #macKey: Buffer;

  constructor(secrets: SecretBox) {
    this.#key = Buffer.from(secrets.mac('legacy-image-id', 'aes-256 key'), 'base64url').subarray(0, 32);
    this.#macKey = Buffer.from(secrets.mac('legacy-image-id', 'hmac key'), 'base64url');
  }

  encode(manifestId: number, index: number): string {
    const block = Buffer.alloc(16);
    block.writeBigUInt64BE(BigInt(manifestId), 0);
    block.writeUInt32BE(index, 8);
    const c = createCipheriv('aes-256-ecb', this.#key, null).setAutoPadding(false);
    const enc = Buffer.concat([c.update(block), c.final()]);
    return Buffer.concat([enc, this.#tag(enc)]).toString('hex');
  }

  /** The (manifest id, layer index) an id names, or undefined for anything this install did not make. */
  decode(id: string): { manifestId: number; index: number } | undefined {
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) return undefined;
    const raw = Buffer.from(id, 'hex');
    const enc = raw.subarray(0, 16);
    if (!timingSafeEqual(raw.subarray(16), this.#tag(enc))) return undefined;
    const d = createDecipheriv('aes-256-ecb', this.#key, null).setAutoPadding(false);
    const block = Buffer.concat([d.update(enc), d.final()]);
    if (block.readUInt32BE(12) !== 0) return undefined;
    const manifestId = Number(block.readBigUInt64BE(0));
    return Number.isSafeInteger(manifestId) ? { manifestId, index: block.readUInt32BE(8) } : undefined;
  }

  #tag(enc: Buffer): Buffer {
    return createHmac('sha256', this.#macKey).update(enc).digest().subarray(0, 16);
  }
}
