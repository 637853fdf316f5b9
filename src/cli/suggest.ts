import { levenshtein } from '../config/did-you-mean.js';

/** The known word `word` was probably meant to be (at most 2 edits away, and closer than half its length), or undefined. */
export function closestWord(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(word.length / 2)) + 1;
  for (const candidate of known) {
    const distance = levenshtein(word.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** " Did you mean X?" when there is a close one, else "". */
export function didYouMean(word: string, known: readonly string[]): string {
  const match = closestWord(word, known);
  return match ? ` Did you mean "${match}"?` : '';
}
