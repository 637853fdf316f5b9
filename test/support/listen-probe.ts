/**
 * Loaded into a Sesame process with `node --import` by tests that must show it never listened:
 * every `listen` of a server (http servers are net servers) says so on stderr first.
 */
import net from 'node:net';
import { LISTEN_PROBE_LINE } from './cli.js';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  process.stderr.write(`${LISTEN_PROBE_LINE}\n`);
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof listen;
