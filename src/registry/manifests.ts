// Manifests (spec "Pulling manifests", "Pushing Manifests", "Deleting tags/manifests"):
//   GET/HEAD /v2/<name>/manifests/<tag|digest>   the stored bytes, by content negotiation (Accept)
//   PUT      /v2/<name>/manifests/<tag|digest>   validate, check references, store, tag (201)
//   DELETE   /v2/<name>/manifests/<tag|digest>   end a tag's lifetime, or remove a manifest (202)
//
// The bytes are stored exactly as pushed, in the database. A tag resolves through its live
// lifetime only (src/db/tags.ts). A manifest pushed by digest gets a hidden tag for an hour, as
// Quay's temporary tags, so the garbage collector leaves it alone until something references it.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { findRepositoryBlob } from '../db/blobs.js';
import { readThrough } from '../db/read-cache.js';
import { deleteManifestRow, findManifest, findManifestById, findManifests, findTaggedManifest, insertManifest, listParentDigests, type ManifestRow } from '../db/manifests.js';
import { insertLabels, labelValue } from '../db/labels.js';
import { endTag, endTagsOfManifest, setTag, tagEverExisted } from '../db/tags.js';
import { logAction, logActionGrouped } from '../lib/audit.js';
import { auditActor, existingRepo } from './access.js';
import { digestOf, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { EXPIRES_AFTER_LABEL, labelledTagEnd, labelMediaType, readImageConfig } from './image-config.js';
import { performerData, spawnRepoEvent } from '../jobs/notifications.js';
import { layersSize, MAX_MANIFEST_BYTES, ManifestError, negotiate, parseManifest, type Descriptor } from './manifest-types.js';

/** A tag, per the spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** How long a manifest pushed by digest is kept without any other reference (Quay's PUSH_TEMP_TAG_EXPIRATION_SEC). */
const TEMP_TAG_MS = 3600_000;

type Reference = { tag: string; digest?: undefined } | { digest: ReturnType<typeof parseDigest> & object; tag?: undefined };

function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    const d = parseDigest(ref);
    if (!d) throw new RegistryError('DIGEST_INVALID', { message: 'invalid digest', detail: { reference: ref.slice(0, 200) } });
    return { digest: d };
  }
  if (!TAG.test(ref)) throw new RegistryError('MANIFEST_INVALID', { message: 'invalid tag', detail: { reference: ref.slice(0, 200) } });
  return { tag: ref };
}

/** A reference to look up: one that cannot name anything (not a tag, not a digest) is simply unknown. */
function readableReference(ref: string): Reference {
  try {
    return parseReference(ref);
  } catch {
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { reference: ref.slice(0, 200) } });
  }
}

/** Reads a request body of at most `max` bytes; 413 beyond. */
async function readBody(req: FastifyRequest, max: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    req.raw.resume();
    throw new RegistryError('MANIFEST_INVALID', { status: 413, message: `the manifest is larger than ${max} bytes` });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.raw as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.raw.resume();
      throw new RegistryError('MANIFEST_INVALID', { status: 413, message: `the manifest is larger than ${max} bytes` });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function manifestHeaders(reply: FastifyReply, m: Pick<ManifestRow, 'digest' | 'media_type' | 'size'>) {
  return reply
    .header('Content-Type', m.media_type)
    .header('Docker-Content-Digest', m.digest)
    .header('Content-Length', String(m.size))
    .header('ETag', `"${m.digest}"`);
}

/** The child a client that cannot read an index gets: linux/amd64, else the first listed. */
function defaultChild(index: ManifestRow): Descriptor | undefined {
  try {
    const doc = JSON.parse(index.content.toString('utf8')) as { manifests?: Descriptor[] };
    const list = Array.isArray(doc.manifests) ? doc.manifests : [];
    return list.find((d) => d.platform?.os === 'linux' && d.platform?.architecture === 'amd64') ?? list[0];
  } catch {
    return undefined;
  }
}

export const manifestRoutes: FastifyPluginAsync = async (app) => {
  const db = app.db;
  const minExpiryS = app.config.LABELED_EXPIRATION_MINIMUM;
  const maxExpiryS = app.config.LABELED_EXPIRATION_MAXIMUM;

  /** The manifest a reference names, or 404 MANIFEST_UNKNOWN. */
  async function resolve(repoId: number, ref: Reference): Promise<ManifestRow> {
    if (ref.digest) {
      const m = await findManifest(db, repoId, ref.digest.digest);
      if (!m) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { digest: ref.digest.digest } });
      return m;
    }
    const now = Date.now();
    const m = await readThrough(app.database.readCache, `tag\0${repoId}\0${ref.tag}`, async () => {
      const t = await findTaggedManifest(db, repoId, ref.tag, now);
      return { value: t?.manifest, until: t?.lifetimeEndMs ?? undefined, bytes: (t?.manifest.size ?? 0) + 512 };
    });
    if (m) return m;
    // Quay says TAG_EXPIRED here; the spec's code is MANIFEST_UNKNOWN, with Quay's message.
    if (await tagEverExisted(db, repoId, ref.tag)) {
      throw new RegistryError('MANIFEST_UNKNOWN', { message: `Tag ${ref.tag} was deleted or has expired. To pull, revive via time machine`, detail: { tag: ref.tag } });
    }
    throw new RegistryError('MANIFEST_UNKNOWN', { detail: { tag: ref.tag } });
  }

  const read = (head: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const repo = existingRepo(req);
    const ref = readableReference((req.params as { reference: string }).reference);
    let m = await resolve(repo.id, ref);
    const choice = negotiate(m.media_type, req.headers.accept);
    if (choice === 'child') {
      const child = defaultChild(m);
      const row = child && (await findManifest(db, repo.id, child.digest));
      if (!row) throw new RegistryError('MANIFEST_UNKNOWN', { message: 'the manifest is an index, and the client accepts none of its types' });
      m = row;
    } else if (choice === 'none') {
      throw new RegistryError('MANIFEST_UNKNOWN', { message: `the manifest is ${m.media_type}, which the request's Accept header does not list` });
    }
    manifestHeaders(reply, m);
    // As Quay, whose GET view also answers HEAD: a pull_repo entry either way.
    await logActionGrouped(db, auditActor(req), 'pull_repo', { accountId: repo.namespace_id, repositoryId: repo.id }, {
      repo: repo.name,
      namespace: repo.namespace_name,
      'user-agent': req.headers['user-agent'] ?? null,
      ...(ref.tag ? { tag: ref.tag } : { manifest_digest: m.digest }),
      mediaType: m.media_type,
      ...performer(req),
    });
    return head ? reply.send() : reply.send(m.content);
  };

  app.head('/:name/manifests/:reference', read(true));
  app.get('/:name/manifests/:reference', { exposeHeadRoute: false }, read(false));

  app.put('/:name/manifests/:reference', async (req, reply) => {
    const repo = existingRepo(req);
    const ref = parseReference((req.params as { reference: string }).reference);
    const bytes = await readBody(req, MAX_MANIFEST_BYTES);
    let parsed;
    try {
      parsed = parseManifest(bytes, req.headers['content-type']);
    } catch (err) {
      if (err instanceof ManifestError) throw new RegistryError('MANIFEST_INVALID', { message: err.message });
      throw err;
    }
    const digest = digestOf(bytes, ref.digest?.algorithm ?? 'sha256');
    if (ref.digest && digest !== ref.digest.digest) {
      throw new RegistryError('DIGEST_INVALID', { message: 'the manifest does not have the digest in the URL', detail: { digest: ref.digest.digest } });
    }

    // Every referenced blob and child manifest must already be in the repository.
    const blobIds: number[] = [];
    for (const d of parsed.blobs) {
      const blob = await findRepositoryBlob(db, repo.id, d.digest);
      if (!blob) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: `blob unknown to registry: ${d.digest}`, detail: { digest: d.digest } });
      if (blob.size !== d.size) throw new RegistryError('MANIFEST_INVALID', { message: `the size of ${d.digest} is ${blob.size}, not ${d.size}` });
      blobIds.push(blob.id);
    }
    const children = await findManifests(db, repo.id, parsed.children.map((c) => c.digest));
    for (const c of parsed.children) {
      if (!children.has(c.digest)) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: `manifest unknown to registry: ${c.digest}`, detail: { digest: c.digest } });
    }

    // The image config's labels become the manifest's (source `manifest`), read before the
    // transaction; `quay.expires-after` among them sets the end of the tags pointed at it.
    const config = parsed.kind === 'image' ? await readImageConfig(app.storage, parsed.config) : undefined;

    const tags = ref.tag ? [ref.tag] : extraTags(req);
    let notified = 0;
    const { manifest } = await db.transaction().execute(async (trx) => {
      // Locks, always in this order so that concurrent pushes wait for each other instead of
      // deadlocking: the repository row first (pushes into one repository take turns; its tags
      // change below), then the blobs by id. The blob locks also hold off the garbage collector (it
      // marks a blob `deleting` under a row lock after checking nothing references it): either it
      // went first and the blob is gone for this push, or the manifest's references are committed
      // before it looks.
      await trx.selectFrom('repository').select('id').where('id', '=', repo.id).forUpdate().execute();
      // The time of the change is taken once the repository is ours: a push that waited for
      // another starts its lifetimes after the other's.
      const now = Date.now();
      if (blobIds.length) {
        const ids = [...new Set(blobIds)].sort((a, b) => a - b);
        const locked = await trx.selectFrom('blob').select(['digest', 'deleting']).where('id', 'in', ids).orderBy('id').forUpdate().execute();
        const gone = locked.find((b) => b.deleting) ?? (locked.length < ids.length ? { digest: 'unknown' } : undefined);
        if (gone) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', { message: `blob unknown to registry: ${gone.digest}`, detail: { digest: gone.digest } });
        await trx.updateTable('blob').set({ last_used: new Date() }).where('id', 'in', ids).execute();
      }
      const stored = await insertManifest(trx, {
        repositoryId: repo.id,
        digest,
        mediaType: parsed.mediaType,
        artifactType: parsed.artifactType,
        subjectDigest: parsed.subject?.digest ?? null,
        configMediaType: parsed.config?.mediaType ?? null,
        layersSize: layersSize(parsed, bytes),
        content: bytes,
        blobIds,
        childIds: [...children.values()].map((c) => c.id),
      });
      if (stored.created && config) {
        await insertLabels(
          trx,
          stored.manifest.id,
          Object.entries(config.labels).map(([key, value]) => ({ key, value, mediaType: labelMediaType(value), source: 'manifest' as const })),
        );
      }
      if (tags.length === 0) {
        await setTag(trx, repo.id, `$temp-${randomUUID()}`, stored.manifest.id, now, { hidden: true, endMs: now + TEMP_TAG_MS });
      }
      const endMs = tags.length ? labelledTagEnd(now, await labelValue(trx, stored.manifest.id, EXPIRES_AFTER_LABEL), minExpiryS, maxExpiryS) : null;
      for (const tag of tags) {
        await setTag(trx, repo.id, tag, stored.manifest.id, now, { endMs });
        await logAction(trx, auditActor(req), 'push_repo', { accountId: repo.namespace_id, repositoryId: repo.id }, {
          repo: repo.name,
          namespace: repo.namespace_name,
          tag,
          mediaType: parsed.mediaType,
          ...performer(req),
        });
      }
      // repo_push notifications commit with the tags (Quay's spawn_notification after push_repo).
      if (tags.length) notified = await spawnRepoEvent(app, trx, repo, 'repo_push', { updated_tags: tags }, performerData(auditActor(req)));
      return stored;
    });
    if (notified) app.jobs.nudge();

    reply.code(201).header('Location', `/v2/${req.repoAccess.full}/manifests/${manifest.digest}`).header('Docker-Content-Digest', manifest.digest).header('Content-Length', '0');
    if (parsed.subject) reply.header('OCI-Subject', parsed.subject.digest);
    if (!ref.tag && tags.length) reply.header('OCI-Tag', tags.join(', '));
    return reply.send();
  });

  app.delete('/:name/manifests/:reference', async (req, reply) => {
    const repo = existingRepo(req);
    const ref = readableReference((req.params as { reference: string }).reference);
    if (ref.tag) {
      const ended = await db.transaction().execute(async (trx) => {
        const tag = await endTag(trx, repo.id, ref.tag);
        if (!tag) return undefined;
        const m = await findManifestById(trx, tag.manifest_id);
        await logAction(trx, auditActor(req), 'delete_tag', { accountId: repo.namespace_id, repositoryId: repo.id }, {
          repo: repo.name,
          namespace: repo.namespace_name,
          tag: ref.tag,
          manifest_digest: m?.digest ?? null,
          ...performer(req),
        });
        return tag;
      });
      if (!ended) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { tag: ref.tag } });
      return reply.code(202).header('Content-Length', '0').send();
    }
    const digest = ref.digest!.digest;
    const m = await findManifest(db, repo.id, digest);
    if (!m) throw new RegistryError('MANIFEST_UNKNOWN', { detail: { digest } });
    const parents = await listParentDigests(db, m.id);
    if (parents.length) {
      throw new RegistryError('DENIED', { status: 409, message: `the manifest is listed by ${parents.slice(0, 3).join(', ')}: delete that first` });
    }
    await db.transaction().execute(async (trx) => {
      const names = await endTagsOfManifest(trx, m.id);
      for (const tag of names) {
        await logAction(trx, auditActor(req), 'delete_tag', { accountId: repo.namespace_id, repositoryId: repo.id }, {
          repo: repo.name,
          namespace: repo.namespace_name,
          tag,
          manifest_digest: m.digest,
          ...performer(req),
        });
      }
      await deleteManifestRow(trx, m.id);
    });
    return reply.code(202).header('Content-Length', '0').send();
  });
};

/** `?tag=a&tag=b` on a PUT by digest (spec v1.1.1+ "end-7b"); each must be a valid tag. */
function extraTags(req: FastifyRequest): string[] {
  const raw = (req.query as Record<string, string | string[] | undefined>).tag;
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length > 100) throw new RegistryError('INVALID_REQUEST', { status: 414, message: 'too many tags in one request' });
  for (const t of list) if (!TAG.test(t)) throw new RegistryError('MANIFEST_INVALID', { message: 'invalid tag', detail: { tag: t.slice(0, 200) } });
  return [...new Set(list)];
}

/** Quay's performer metadata for registry audit entries. */
function performer(req: FastifyRequest): Record<string, unknown> {
  const id = req.registryAuth?.identity;
  if (!id) return {};
  const out: Record<string, unknown> = { username: id.entity.username };
  if (id.kind === 'robot') out.is_robot = true;
  if (id.appToken) {
    out.app_specific_token = id.appToken.uuid;
    out.app_specific_token_title = id.appToken.title;
  }
  return out;
}

