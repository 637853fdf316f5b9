/**
 * A look-up remembered for a short time (`ttlMs`), so that the many reads of the same thing within
 * one sign-in (oidc-provider asks for the client on nearly every request) cost one database read.
 * Concurrent look-ups of one key share a single read. Only found values are kept: something created
 * a moment ago is seen at once, and a failed read is not remembered. Changes made elsewhere (another
 * instance, the CLI) are seen after at most `ttlMs`.
 */
export function shortCache<V>(load: (key: string) => Promise<V | undefined>, ttlMs: number, { maxEntries = 1000, now: clock = Date.now }: { maxEntries?: number; now?: () => number } = {}): (key: string) => Promise<V | undefined> {
  const entries = new Map<string, { at: number; value: Promise<V | undefined> }>();
  return (key) => {
    const now = clock();
    const hit = entries.get(key);
    if (hit && now - hit.at < ttlMs) return hit.value;
    if (hit) entries.delete(key);
    const value = load(key);
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
    const entry = { at: now, value };
    entries.set(key, entry);
    const forget = () => {
      if (entries.get(key) === entry) entries.delete(key);
    };
    value.then((found) => {
      if (found === undefined) forget();
    }, forget);
    return value;
  };
}
