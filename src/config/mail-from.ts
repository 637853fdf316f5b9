// an address whose domain is a host name (a single label, e.g. localhost, too)
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
// a display name: quoted, or plain words without the characters that would split or nest addresses
const NAME = /^(?:"[^"\\\r\n]*"|[^"(),:;<>@[\]\\\r\n]+)$/;

/**
 * Whether a value can be the `From` of every email: `addr@host` or `Name <addr@host>` (the name
 * plain or in double quotes). Checked at start, so that a mistyped sender is a configuration
 * problem instead of every message failing (or going out as something else) at the SMTP server.
 */
export function isMailFrom(value: string): boolean {
  const named = /^(.*?)\s*<([^<>]*)>$/.exec(value);
  if (!named) return ADDRESS.test(value);
  const [, name, address] = named;
  return ADDRESS.test(address) && (name === '' || NAME.test(name));
}
