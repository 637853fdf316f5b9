/** Edit distance between two strings: the fewest insertions, deletions and substitutions from one to the other. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // one row of the table at a time: row i holds the distances from a[0..i) to every prefix of b
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The name `name` was probably meant to be, or undefined. Strict on purpose: the environment is full
 * of variables that are not ours (HOME, PATH, HOSTNAME, TERM, npm_…), and taking one of them for a
 * typo would stop the server. So names with a lower-case letter are never suggested for, and a
 * name may be at most 1 edit away when shorter than 8 characters, 2 otherwise (HOME, 2 edits from
 * HOST, is left alone).
 */
export function closestName(name: string, names: readonly string[]): string | undefined {
  if (/[a-z]/.test(name) || names.includes(name)) return undefined;
  let best: string | undefined;
  let bestDistance = (name.length < 8 ? 1 : 2) + 1;
  for (const candidate of names) {
    // the distance is at least the difference in length: the table, slow for every variable of the
    // environment against every setting at each start, is built only for names that could be close
    if (Math.abs(candidate.length - name.length) >= bestDistance) continue;
    const distance = levenshtein(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
