/**
 * The parts of the usage text that belong to one command: every entry of the `Commands:` list
 * whose first words are the given ones (`clients` gives all of `clients …`, `clients add` just
 * that one). An entry is a line indented by two spaces and the lines indented further below it.
 */
export function usageFor(usage: string, words: readonly string[]): string | undefined {
  const entries = commandEntries(usage).filter((entry) => words.every((word, i) => entry.words[i] === word));
  if (!entries.length) return undefined;
  return `Usage:\n${entries.map((entry) => entry.text).join('')}`;
}

/** The subcommands the usage text lists for a command (`clients` → add, list, show, …). */
export function subcommandsOf(usage: string, command: string): string[] {
  return [...new Set(commandEntries(usage).filter((entry) => entry.words[0] === command && entry.words[1]).map((entry) => entry.words[1].split('|')).flat())];
}

/** The commands the usage text lists. */
export function commandsOf(usage: string): string[] {
  return [...new Set(commandEntries(usage).map((entry) => entry.words[0]))];
}

interface Entry {
  words: string[];
  text: string;
}

function commandEntries(usage: string): Entry[] {
  const lines = usage.slice(usage.indexOf('Commands:')).split('\n').slice(1);
  const entries: Entry[] = [];
  for (const line of lines) {
    if (/^ {2}\S/.test(line)) {
      // the command's words: up to the first option, placeholder or the description's gap
      const words = line.trim().split(/\s{2,}/)[0].split(/\s+/).filter((word) => /^[a-z][a-z|-]*$/.test(word));
      entries.push({ words, text: `${line}\n` });
    } else if (/^ {3,}\S/.test(line) && entries.length) {
      entries[entries.length - 1].text += `${line}\n`;
    } else if (line.trim() === '') {
      if (entries.length && entries.at(-1)!.text.endsWith('\n\n')) continue;
      // a blank line ends the list
      if (entries.length) break;
    } else {
      break;
    }
  }
  return entries;
}
