// What the REST views read from an image's config blob (the JSON a Docker or OCI image manifest
// names as its config): the labels copied onto the manifest at push, the `quay.expires-after`
// label that sets the end of tags pointed at the manifest, and the history that gives layers their
// commands and dates. Configs are read from storage, bounded, and anything unexpected in them is
// ignored rather than failing a push or a view.
import type { BlobDriver } from '../storage/driver.js';
import { blobKey } from '../storage/paths.js';

/** Config media types holding an image config (artifacts' configs are anything else). */
export const IMAGE_CONFIG_TYPES = new Set(['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json']);

/** Configs larger than this are not read (real ones are a few KiB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The label that makes a tag expire this long after it is pointed at the manifest (Quay's). */
export const EXPIRES_AFTER_LABEL = 'quay.expires-after';

export interface ImageConfig {
  labels: Record<string, string>;
  /** The history entries that made a layer (empty_layer not set), base first. */
  layerHistory: { created?: string; created_by?: string; comment?: string; author?: string }[];
}

/** The parsed config blob of an image manifest, or undefined (not an image config, too large, missing, not JSON). */
export async function readImageConfig(storage: BlobDriver, config: { mediaType: string; digest: string; size: number } | undefined): Promise<ImageConfig | undefined> {
  if (!config || !IMAGE_CONFIG_TYPES.has(config.mediaType) || config.size > MAX_CONFIG_BYTES) return undefined;
  let doc: unknown;
  try {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const chunk of await storage.read(blobKey(config.digest))) {
      n += (chunk as Buffer).length;
      if (n > MAX_CONFIG_BYTES) return undefined;
      parts.push(chunk as Buffer);
    }
    doc = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as { config?: { Labels?: unknown }; history?: unknown };
  const labels: Record<string, string> = {};
  const raw = d.config?.Labels;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string' && k.length > 0 && k.length <= 255) labels[k] = v;
  }
  const history = Array.isArray(d.history) ? d.history : [];
  const layerHistory = history
    .filter((h): h is Record<string, unknown> => typeof h === 'object' && h !== null && h.empty_layer !== true)
    .map((h) => ({
      ...(typeof h.created === 'string' ? { created: h.created } : {}),
      ...(typeof h.created_by === 'string' ? { created_by: h.created_by } : {}),
      ...(typeof h.comment === 'string' ? { comment: h.comment } : {}),
      ...(typeof h.author === 'string' ? { author: h.author } : {}),
    }));
  return { labels, layerHistory };
}

/** Quay's label media type inference: JSON when the value is a JSON object or array, else text. */
export function labelMediaType(value: string): 'application/json' | 'text/plain' {
  const v = value.trim();
  if ((v.startsWith('{') && v.endsWith('}')) || (v.startsWith('[') && v.endsWith(']'))) {
    try {
      JSON.parse(v);
      return 'application/json';
    } catch {
      // text
    }
  }
  return 'text/plain';
}

/** `quay.expires-after`'s value in seconds ("2w", "1d", "12h", "30m", "45s"), or undefined when it is not one. */
export function expiresAfterSeconds(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^\s*(\d{1,9})\s*([smhdw])\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return n > 0 ? n : undefined;
}

/** The end of a tag started at `startMs` on a manifest labelled `quay.expires-after`, clamped as changeTag's expirations are. */
export function labelledTagEnd(startMs: number, label: string | undefined, minS: number, maxS: number): number | null {
  const s = expiresAfterSeconds(label);
  return s === undefined ? null : startMs + Math.min(maxS, Math.max(minS, s)) * 1000;
}
