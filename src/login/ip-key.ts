import ipaddr from 'ipaddr.js';

/**
 * The key a client address is counted under by the per-IP limits: an IPv4 address on its own, an
 * IPv6 address by its network prefix (a /64 by default: one subscriber usually holds a whole /64,
 * so counting each of its 2^64 addresses alone would give one person endless budgets). IPv4-mapped
 * IPv6 addresses (`::ffff:192.0.2.1`) count as the IPv4 address. Anything unparsable counts as
 * itself, so it cannot dodge a limit by being odd.
 */
export function ipKey(ip: string | undefined, ipv6PrefixBits: number): string {
  if (!ip) return 'unknown';
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // a zone id (fe80::1%eth0) says which interface, not which network
    address = ipaddr.process(ip.replace(/%.*$/, ''));
  } catch {
    return ip;
  }
  if (address.kind() === 'ipv4') return address.toString();
  const bytes = address.toByteArray();
  for (let bit = ipv6PrefixBits; bit < 128; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixBits}`;
}
