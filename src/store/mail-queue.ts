import type { QueuedMail } from '../mail/message.js';
import type { Db } from './db.js';
import { outboxRow, type MailBox } from './outbox-store.js';

/** Queues a message in the outbox on its own (sealed like every other), for mails that go with no other write. */
export class KnexMailQueue {
  constructor(private readonly db: Db, private readonly box: MailBox) {}

  async queue(mail: QueuedMail): Promise<void> {
    await this.db('mail_outbox').insert(outboxRow(this.box, mail, Date.now()));
  }
}
