import { expect } from 'chai';
import { OutboxWorker, type OutboxItem, type OutboxStore, type RelayHealth } from '../../src/mail/outbox.js';
import { createLogger } from '../../src/shared/logger.js';

/** An outbox that hands out the messages the test queues, one claim each. */
class QueuedOutbox implements OutboxStore {
  readonly queue: OutboxItem[] = [];
  async depth() { return { pending: this.queue.length }; }
  async claimDue(_now: number, limit: number) { return this.queue.splice(0, limit); }
  async claim() { return this.queue.shift(); }
  async markSent() {}
  async markWithheld() {}
  async reschedule() {}
  async markFailed() {}
  async extendLease() {}
  async resumeWaiting() { return 0; }
}

const item = (id: number): OutboxItem => ({ id, attempts: 1, message: { to: `p${id}@example.com`, subject: 's', text: 't', html: 'h' } });
const refused = (command: string, responseCode: number) => Object.assign(new Error(`${responseCode} no`), { command, responseCode });
const down = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ESOCKET' });

/** Sends each queued message through a transport that answers with the next outcome (undefined: accepted). */
async function run(outcomes: (Error | undefined)[]): Promise<{ worker: OutboxWorker; states: RelayHealth[] }> {
  const store = new QueuedOutbox();
  const answers = [...outcomes];
  const transport = { send: async () => { const answer = answers.shift(); if (answer) throw answer; }, close: () => {} };
  const states: RelayHealth[] = [];
  const worker = new OutboxWorker(store, transport, createLogger('silent'), { onRelayState: (health) => states.push(health), pollIntervalMs: 60_000 });
  worker.start();
  for (let i = 0; i < outcomes.length; i++) {
    store.queue.push(item(i + 1));
    worker.deliverQueued(i + 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await worker.stop();
  return { worker, states };
}

describe('OutboxWorker.health: whether mail goes out', () => {
  it('is ok before anything was sent', () => {
    const worker = new OutboxWorker(new QueuedOutbox(), { send: async () => {}, close: () => {} }, createLogger('silent'));
    expect(worker.health()).to.deep.equal({ state: 'ok', failures: 0 });
  });

  it('fails from the first failed send, keeps when it began and counts, and is ok again after a send', async () => {
    const before = Date.now();
    const { worker, states } = await run([down(), down(), undefined]);
    expect(states.map((s) => s.state)).to.deep.equal(['failing', 'failing', 'ok']);
    expect(states[1].since, 'the start of the failures is kept').to.equal(states[0].since);
    expect(states[0].since).to.be.at.least(before);
    expect(states[1].failures).to.equal(2);
    expect(states[1].reason).to.include('ECONNREFUSED');
    expect(worker.health()).to.deep.equal({ state: 'ok', failures: 0 });
  });

  it('our relay refusing us (auth, sender) is failing; a refused recipient is not', async () => {
    expect((await run([refused('MAIL FROM', 550)])).worker.health().state).to.equal('failing');
    expect((await run([down(), refused('RCPT TO', 550)])).worker.health().state).to.equal('ok');
  });
});
