// Real registry clients in the suite: Debian's skopeo and podman driven against a registry on
// 127.0.0.1 over plain http (`--tls-verify=false`). Each session has its own auth file
// (REGISTRY_AUTH_FILE), its own podman storage (`--root`/`--runroot`/`--storage-driver vfs`),
// HOME, TMPDIR and containers config, so tests never share credentials or images.
//
// Passwords reach the clients on stdin (`--password-stdin`), never in argv, and are masked in
// every error message; usernames are argv entries passed without a shell, so `$oauthtoken`, `$app`
// and `org+robot` arrive verbatim.
//
// Locally the suites skip (with a message naming what is missing) when a tool is absent; with
// CI=true (.ci/run installs the tools) a missing tool fails the suite instead.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'vitest';
import type { Credential } from './docker-registry.js';

export type RegistryTool = 'skopeo' | 'podman' | 'docker-registry';

const INSTALL_HINT = 'apt-get install skopeo podman docker-registry (.ci/run installs them)';

/** Tools of `tools` that are not on PATH. */
export function missingTools(tools: RegistryTool[]): RegistryTool[] {
  return tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
}

/** CI=true makes the real-client suites required: a missing tool is a failure, not a skip. */
export const clientsRequired = process.env.CI === 'true';

/**
 * `describe(name, fn)` when every tool is installed. Otherwise: under CI=true, one failing test
 * naming the missing tools; locally, the suite is skipped with a warning saying why.
 */
export function describeWithTools(name: string, tools: RegistryTool[], fn: () => void): void {
  const missing = missingTools(tools);
  if (missing.length === 0) {
    describe(name, fn);
  } else if (clientsRequired) {
    describe(name, () => {
      it(`has ${tools.join(', ')} installed (required with CI=true)`, () => {
        throw new Error(`missing on PATH: ${missing.join(', ')}; ${INSTALL_HINT}`);
      });
    });
  } else {
    console.warn(`[${name}] SKIPPED: missing on PATH: ${missing.join(', ')}; ${INSTALL_HINT}`);
    describe.skip(name, fn);
  }
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

/** A client that exited non-zero or timed out; the message holds the command (no secrets) and stderr. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export interface SessionOptions {
  /** Per-command time-out (default 60 s). */
  timeoutMs?: number;
}

/** One isolated client environment; `close()` removes its folder (auth file, podman storage). */
export class ClientSession {
  readonly dir: string;
  readonly authFile: string;
  readonly podmanRoot: string;
  readonly skopeo: Skopeo;
  readonly podman: Podman;
  readonly timeoutMs: number;
  private readonly secrets = new Set<string>();
  private readonly env: NodeJS.ProcessEnv;

  constructor(opts: SessionOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    // Lower-case on purpose: podman names an image loaded from `oci:<path>` after the path.
    this.dir = path.join(tmpdir(), `registry-clients-${randomBytes(8).toString('hex')}`);
    mkdirSync(this.dir, { mode: 0o700 });
    for (const d of ['home', 'tmp', 'run', 'config', 'podman/root', 'podman/run', 'podman/tmp']) mkdirSync(path.join(this.dir, d), { recursive: true });
    this.authFile = path.join(this.dir, 'auth.json');
    // podman refuses a REGISTRY_AUTH_FILE that does not exist.
    writeFileSync(this.authFile, '{}', { mode: 0o600 });
    // Our own containers config, so the machine's /etc/containers files (short-name aliases,
    // mirrors, a signature policy) cannot change what a test does.
    const policy = path.join(this.dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    writeFileSync(path.join(this.dir, 'registries.conf'), 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
    writeFileSync(path.join(this.dir, 'containers.conf'), '[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n');
    this.podmanRoot = path.join(this.dir, 'podman/root');
    this.env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: path.join(this.dir, 'home'),
      TMPDIR: path.join(this.dir, 'tmp'),
      XDG_RUNTIME_DIR: path.join(this.dir, 'run'),
      XDG_CONFIG_HOME: path.join(this.dir, 'config'),
      REGISTRY_AUTH_FILE: this.authFile,
      CONTAINERS_REGISTRIES_CONF: path.join(this.dir, 'registries.conf'),
      CONTAINERS_CONF: path.join(this.dir, 'containers.conf'),
    };
    this.skopeo = new Skopeo(this, policy);
    this.podman = new Podman(this, policy);
  }

  /** Masks `s` (a password or token) in every message this session prints. */
  addSecret(s: string): void {
    if (s) this.secrets.add(s);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    // Authorization headers a client might echo in debug output.
    return out.replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}/g, '$1 ***');
  }

  /** Runs `bin args` in this session's environment; throws ClientError on exit ≠ 0 or time-out. */
  run(bin: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const command = this.redact([bin, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '));
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { env: this.env, cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new ClientError(`${command}: could not start (${err.message}); ${INSTALL_HINT}`, command, null, '', ''));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        const ms = Date.now() - started;
        if (code === 0 && !timedOut) return resolve({ stdout, stderr, ms });
        const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited ${code} after ${ms} ms`;
        const out = this.redact(stderr.trim() || stdout.trim()).slice(-4000);
        reject(new ClientError(`${command} ${why}:\n${out}`, command, code, this.redact(stdout), this.redact(stderr)));
      });
      child.stdin.on('error', () => undefined); // a client that exits before reading stdin
      child.stdin.end(opts.input ?? '');
    });
  }

  /** The auth file's `auths` keys (registries this session is logged in to); never the secrets. */
  loggedInTo(): string[] {
    const auth = JSON.parse(readFileSync(this.authFile, 'utf8')) as { auths?: Record<string, unknown> };
    return Object.keys(auth.auths ?? {});
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A new isolated client session; call `close()` when done. */
export function clientSession(opts?: SessionOptions): ClientSession {
  return new ClientSession(opts);
}

export interface CopyOptions {
  /** `--all`: every manifest of an index / manifest list (with their blobs). */
  all?: boolean;
  /** `--format`: convert the manifest (oci, v2s2, v2s1); without it skopeo keeps the source's. */
  format?: 'oci' | 'v2s2' | 'v2s1';
  /** `--preserve-digests`: fail instead of silently changing a digest (default true without `format`). */
  preserveDigests?: boolean;
  /** `--src-no-creds` / `--dest-no-creds`: ignore the auth file. */
  anonymous?: boolean;
}

/** skopeo in a session. Image refs are `host/ns/repo:tag` or `host/ns/repo@digest` (no transport). */
export class Skopeo {
  constructor(
    private readonly session: ClientSession,
    private readonly policy: string,
  ) {}

  run(args: string[], input?: string): Promise<RunResult> {
    return this.session.run('skopeo', ['--policy', this.policy, ...args], { input });
  }

  async version(): Promise<string> {
    return (await this.run(['--version'])).stdout.trim();
  }

  /** `skopeo login -u <username> --password-stdin host`. */
  async login(host: string, cred: Credential): Promise<void> {
    this.session.addSecret(cred.password);
    await this.run(['login', '--tls-verify=false', '--username', cred.username, '--password-stdin', host], cred.password);
  }

  async logout(host: string): Promise<void> {
    await this.run(['logout', host]);
  }

  /** `skopeo copy` between any two transports (`oci:…`, `docker://…`, `dir:…`); returns the digest written. */
  async copy(src: string, dest: string, opts: CopyOptions = {}): Promise<string> {
    const digestFile = path.join(this.session.dir, 'tmp', `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const args = ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', digestFile];
    if (opts.all) args.push('--all');
    if (opts.format) args.push('--format', opts.format);
    if (opts.preserveDigests ?? !opts.format) args.push('--preserve-digests');
    if (opts.anonymous) {
      if (src.startsWith('docker://')) args.push('--src-no-creds');
      if (dest.startsWith('docker://')) args.push('--dest-no-creds');
    }
    await this.run([...args, src, dest]);
    try {
      return readFileSync(digestFile, 'utf8').trim();
    } finally {
      rmSync(digestFile, { force: true });
    }
  }

  /** Pushes `oci:<dir>:<ref>` (or any source) to `docker://<image>`; returns the manifest digest. */
  push(source: string, image: string, opts: CopyOptions = {}): Promise<string> {
    return this.copy(source, `docker://${image}`, opts);
  }

  /** Pulls `docker://<image>` into the OCI layout `dir` under `ref`; returns the manifest digest. */
  pull(image: string, dir: string, ref: string, opts: CopyOptions = {}): Promise<string> {
    return this.copy(`docker://${image}`, `oci:${dir}:${ref}`, opts);
  }

  /** The manifest bytes exactly as the registry serves them (`skopeo inspect --raw`). */
  async inspectRaw(image: string, opts: { anonymous?: boolean } = {}): Promise<Buffer> {
    const args = ['inspect', '--tls-verify=false', '--raw', ...(opts.anonymous ? ['--no-creds'] : []), `docker://${image}`];
    return Buffer.from((await this.run(args)).stdout, 'utf8');
  }

  /** sha256 of the raw manifest: the digest a registry must keep across the round trip. */
  async manifestDigest(image: string): Promise<string> {
    return sha256Digest(await this.inspectRaw(image));
  }

  /** The image config as the registry serves it (`skopeo inspect --config --raw`). */
  async inspectConfig(image: string): Promise<Record<string, unknown>> {
    return JSON.parse((await this.run(['inspect', '--tls-verify=false', '--config', '--raw', `docker://${image}`])).stdout) as Record<string, unknown>;
  }

  /** `skopeo inspect` (Digest, Labels, Layers… of the image for this machine's platform). */
  async inspect(image: string): Promise<{ Digest: string; Labels: Record<string, string> | null; Layers: string[]; [k: string]: unknown }> {
    return JSON.parse((await this.run(['inspect', '--tls-verify=false', `docker://${image}`])).stdout);
  }

  /** `skopeo list-tags docker://host/ns/repo` → tag names. */
  async listTags(repository: string): Promise<string[]> {
    const out = JSON.parse((await this.run(['list-tags', '--tls-verify=false', `docker://${repository}`])).stdout) as { Tags: string[] | null };
    return out.Tags ?? [];
  }

  /** `skopeo delete docker://<image>` (by tag: skopeo resolves it and deletes the manifest digest). */
  async delete(image: string): Promise<void> {
    await this.run(['delete', '--tls-verify=false', `docker://${image}`]);
  }

  /**
   * Docker v2 schema 1 bytes written by skopeo itself (`--format v2s1` into a `dir:` folder) from
   * `source`: the shape a legacy client would push.
   */
  async schema1Manifest(source: string): Promise<Buffer> {
    const dir = mkdtempSync(path.join(this.session.dir, 'tmp', 's1-'));
    try {
      await this.copy(source, `dir:${dir}`, { format: 'v2s1' });
      return readFileSync(path.join(dir, 'manifest.json'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** podman in a session, with storage of its own (vfs) under the session folder. */
export class Podman {
  private readonly global: string[];

  constructor(
    private readonly session: ClientSession,
    private readonly policy: string,
  ) {
    const p = (s: string) => path.join(session.dir, 'podman', s);
    this.global = ['--root', p('root'), '--runroot', p('run'), '--tmpdir', p('tmp'), '--storage-driver', 'vfs', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs'];
  }

  run(args: string[], input?: string): Promise<RunResult> {
    return this.session.run('podman', [...this.global, ...args], { input });
  }

  async version(): Promise<string> {
    return (await this.run(['--version'])).stdout.trim();
  }

  /** `podman login -u <username> --password-stdin host`. */
  async login(host: string, cred: Credential): Promise<void> {
    this.session.addSecret(cred.password);
    await this.run(['login', '--tls-verify=false', '--username', cred.username, '--password-stdin', host], cred.password);
  }

  async logout(host: string): Promise<void> {
    await this.run(['logout', host]);
  }

  /**
   * Loads `oci:<dir>:<ref>` into podman's storage and tags it `name`; returns the image ID.
   * podman 4.3 names an image pulled from `oci:<path>` `localhost/<path>` and refuses a path that
   * is not a valid (lower-case) repository name, so the layout is copied into this session's
   * lower-case folder first.
   */
  async load(source: string, name: string): Promise<string> {
    const m = /^oci:(.+):([^:/]+)$/.exec(source);
    if (!m) throw new Error(`podman.load expects oci:<dir>:<ref>, got ${source}`);
    const copy = path.join(this.session.dir, 'tmp', `layout-${randomBytes(6).toString('hex')}`);
    cpSync(m[1], copy, { recursive: true });
    try {
      const id = lastLine((await this.run(['pull', '--signature-policy', this.policy, '--quiet', `oci:${copy}:${m[2]}`])).stdout);
      await this.run(['tag', id, name]);
      await this.run(['untag', id, `localhost${copy}:${m[2]}`]).catch(() => undefined);
      return id;
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }

  /** `podman push local docker://<image>`; returns the pushed manifest's digest. */
  async push(local: string, image: string, opts: { format?: 'oci' | 'v2s2' } = {}): Promise<string> {
    const digestFile = path.join(this.session.dir, 'tmp', `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const args = ['push', '--tls-verify=false', '--signature-policy', this.policy, '--quiet', '--digestfile', digestFile];
    if (opts.format) args.push('--format', opts.format);
    await this.run([...args, local, `docker://${image}`]);
    try {
      return readFileSync(digestFile, 'utf8').trim();
    } finally {
      rmSync(digestFile, { force: true });
    }
  }

  /** `podman pull <image>`; returns the image ID (the config digest's hex). */
  async pull(image: string, opts: { platform?: string } = {}): Promise<string> {
    const args = ['pull', '--tls-verify=false', '--signature-policy', this.policy, '--quiet'];
    if (opts.platform) args.push('--platform', opts.platform);
    return lastLine((await this.run([...args, `docker://${image}`])).stdout);
  }

  /** The manifest digest podman recorded for a local image (what it pulled or pushed). */
  async imageDigest(name: string): Promise<string> {
    return (await this.run(['image', 'inspect', '--format', '{{.Digest}}', name])).stdout.trim();
  }

  /** Labels of a local image's config. */
  async imageLabels(name: string): Promise<Record<string, string>> {
    const out = (await this.run(['image', 'inspect', '--format', '{{json .Labels}}', name])).stdout.trim();
    return (JSON.parse(out) as Record<string, string> | null) ?? {};
  }

  async removeImage(name: string): Promise<void> {
    await this.run(['rmi', '--force', name]);
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop()!.trim();
}
