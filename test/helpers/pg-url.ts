/** One template per test run, so two runs against the same server do not drop each other's. */
export const TEMPLATE_DB = `quay_compat_test_template_${process.pid}`;

/** The same server URL with another database name. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}
