// Quay's `{repository}` path parameter is `namespace/name`, and with extended repository names the
// name itself may contain `/` (`org/team/app`). Fastify parameters are single segments, so routes
// are registered as `…/:namespace/:repository/<suffix>` and incoming URLs are rewritten before
// routing: the name's inner slashes become %2F, which the router decodes back into the parameter.
// The split follows the registered suffixes: the shortest name whose remainder is a known suffix
// wins (a literal route such as `…/tag/` beats a repository named `x/tag`), else the whole rest is
// the name (the bare repository route).

const PREFIXES = ['/api/v1/repository/', '/api/v1/user/starred/'];
const REPO_PARAMS = '/:namespace/:repository';

export class RepoPathRouter {
  readonly #suffixes: RegExp[] = [];
  readonly #seen = new Set<string>();

  /** Called for every registered route; remembers the suffixes of repository-scoped routes. */
  addRoute(url: string): void {
    for (const prefix of PREFIXES) {
      const base = prefix.slice(0, -1) + REPO_PARAMS;
      if (!url.startsWith(base)) continue;
      const suffix = url.slice(base.length);
      if (!suffix || this.#seen.has(suffix)) continue;
      this.#seen.add(suffix);
      const re = suffix
        .split('/')
        .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/');
      this.#suffixes.push(new RegExp(`^${re}$`));
    }
  }

  rewrite(url: string): string {
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const query = q >= 0 ? url.slice(q) : '';
    for (const prefix of PREFIXES) {
      if (!path.startsWith(prefix)) continue;
      const segs = path.slice(prefix.length).split('/');
      if (segs.length < 3) return url; // namespace/name: nothing to merge
      for (let k = 1; k < segs.length - 1; k++) {
        const suffix = '/' + segs.slice(k + 1).join('/');
        if (this.#suffixes.some((re) => re.test(suffix))) {
          return `${prefix}${segs[0]}/${segs.slice(1, k + 1).join('%2F')}${suffix}${query}`;
        }
      }
      return `${prefix}${segs[0]}/${segs.slice(1).join('%2F')}${query}`;
    }
    return url;
  }
}

/** `/api/v1/repository/:namespace/:repository/tag/` → `/api/v1/repository/{repository}/tag/`. */
export function repoDocPath(url: string): string {
  return url.replace(REPO_PARAMS, '/{repository}');
}
