// A short-lived, per-process cache of what every authenticated API request needs: the validated
// token (with its user and application) and the user's organization list. Without it each request
// pays two database round trips, which dominate the cost of a simple GET (see bench/).
//
// Consistency: entries live AUTH_CACHE_SECONDS (default 5). Writes in this process that change
// authentication or membership call clear(); another replica sees such a change within the TTL.
// Expiry is always checked against the cached expires_at, so an expired token never passes.

export class AuthCache<TToken, TOrgs> {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #tokens = new Map<string, { at: number; value: TToken }>();
  readonly #orgs = new Map<number, { at: number; value: TOrgs }>();

  constructor(ttlSeconds: number, max = 10_000) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#max = max;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  #get<K, V>(map: Map<K, { at: number; value: V }>, key: K): V | undefined {
    const e = map.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > this.#ttlMs) {
      map.delete(key);
      return undefined;
    }
    return e.value;
  }

  #set<K, V>(map: Map<K, { at: number; value: V }>, key: K, value: V): void {
    if (!this.enabled) return;
    if (map.size >= this.#max) map.delete(map.keys().next().value as K); // oldest first
    map.set(key, { at: Date.now(), value });
  }

  getToken(name: string): TToken | undefined {
    return this.#get(this.#tokens, name);
  }
  setToken(name: string, value: TToken): void {
    this.#set(this.#tokens, name, value);
  }
  getOrgs(userId: number): TOrgs | undefined {
    return this.#get(this.#orgs, userId);
  }
  setOrgs(userId: number, value: TOrgs): void {
    this.#set(this.#orgs, userId, value);
  }

  /** Drops everything: called after any local write that changes tokens, users or memberships. */
  clear(): void {
    this.#tokens.clear();
    this.#orgs.clear();
  }
}
