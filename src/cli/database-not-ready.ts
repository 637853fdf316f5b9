/** A command found no database it may use; the message names it, the setting, and what to do. */
export class DatabaseNotReady extends Error {
  override readonly name = 'DatabaseNotReady';
}
