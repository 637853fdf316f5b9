import type { LoginRequest, LoginRequestStatus, LoginRequestStore } from '../login/login-request.js';
import type { QueuedMail } from '../mail/message.js';
import { fixedSql, insertSql, isUniqueViolation, transaction, type Db } from './db.js';
import { outboxRow, type MailBox } from './outbox-store.js';

interface Row {
  id: string;
  interaction_uid: string;
  client_id: string;
  email: string;
  token_hash: string;
  code_hash: string;
  code_attempts: number;
  match_attempts: number;
  binding_hash: string;
  requester_ip: string | null;
  requester_ua: string | null;
  status: LoginRequestStatus;
  match_number: number;
  locale: string;
  created_at: number;
  expires_at: number;
}

const toRequest = (row: Row): LoginRequest => ({
  id: row.id,
  interactionUid: row.interaction_uid,
  clientId: row.client_id,
  email: row.email,
  tokenHash: row.token_hash,
  codeHash: row.code_hash,
  codeAttempts: row.code_attempts,
  matchAttempts: row.match_attempts,
  bindingHash: row.binding_hash,
  requesterIp: row.requester_ip,
  requesterUa: row.requester_ua,
  status: row.status,
  matchNumber: row.match_number,
  locale: row.locale,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

const MAX_CREATE_ATTEMPTS = 10;

const ATTEMPT_COLUMNS = { code: 'code_attempts', match: 'match_attempts' } as const;

const COLUMNS = 'id, interaction_uid, client_id, email, token_hash, code_hash, code_attempts, match_attempts, binding_hash, requester_ip, requester_ua, status, match_number, locale, created_at, expires_at';

export class KnexLoginRequestStore implements LoginRequestStore {
  // the statements of every sign-in, as fixed SQL (see FixedSql)
  readonly #sql;

  constructor(private readonly db: Db, private readonly box: MailBox) {
    this.#sql = fixedSql(db);
  }

  async create(request: LoginRequest, mail: QueuedMail | undefined): Promise<number | undefined> {
    // At most one pending request per address and per interaction (partial unique indexes). When a
    // concurrent create for the same address commits first, our transaction could not see its row
    // to supersede it and the index refuses ours: try again, now that it is visible. Each retry
    // means another request won a race, so the loop is bounded by the number of concurrent creators.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#insert(request, mail);
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= MAX_CREATE_ATTEMPTS) throw error;
      }
    }
  }

  async #insert(request: LoginRequest, mail: QueuedMail | undefined): Promise<number | undefined> {
    return transaction(this.db, async (sql) => {
      // a pending request asked for from another browser stays: someone else typing the address must not end it
      await sql.changes("update login_requests set status = 'superseded' where status = 'pending' and ((email = ? and binding_hash = ?) or interaction_uid = ?)",
        [request.email, request.bindingHash, request.interactionUid]);
      const insert = insertSql('login_requests', [{
        id: request.id,
        interaction_uid: request.interactionUid,
        client_id: request.clientId,
        email: request.email,
        token_hash: request.tokenHash,
        code_hash: request.codeHash,
        code_attempts: 0,
        binding_hash: request.bindingHash,
        requester_ip: request.requesterIp,
        requester_ua: request.requesterUa,
        status: request.status,
        match_number: request.matchNumber,
        locale: request.locale,
        created_at: request.createdAt,
        expires_at: request.expiresAt,
      }]);
      await sql.changes(insert.sql, insert.bindings);
      if (!mail) return undefined;
      const queued = insertSql('mail_outbox', [outboxRow(this.box, mail, request.createdAt)], ' returning id');
      const [{ id }] = await sql.rows<{ id: number }>(queued.sql, queued.bindings);
      return Number(id);
    });
  }

  async findByTokenHash(candidates: string[]): Promise<LoginRequest | undefined> {
    if (!candidates.length) return undefined;
    const [row] = await this.#sql.rows<Row>(`select ${COLUMNS} from login_requests where token_hash in (${candidates.map(() => '?').join(', ')}) limit 1`, candidates);
    return row && toRequest(row);
  }

  async latestForInteraction(interactionUid: string): Promise<LoginRequest | undefined> {
    const [row] = await this.#sql.rows<Row>(`select ${COLUMNS} from login_requests where interaction_uid = ? order by created_at desc, id desc limit 1`, [interactionUid]);
    return row && toRequest(row);
  }

  async approve(id: string, now: number): Promise<boolean> {
    // the status and expiry checks live in the WHERE: one statement decides, so a link or code
    // redeemed many times at once is approved exactly once
    const changed = await this.#sql.changes(
      "update login_requests set status = 'approved', approved_at = ? where id = ? and status = 'pending' and expires_at > ?",
      [now, id, now],
    );
    return changed === 1;
  }

  async complete(id: string, now: number, accountId: string): Promise<boolean> {
    const changed = await this.#sql.changes(
      "update login_requests set status = 'completed', completed_at = ?, account_id = ? where id = ? and status = 'approved'",
      [now, accountId, id],
    );
    return changed === 1;
  }

  async countAttempt(kind: 'code' | 'match', id: string, maxAttempts: number, now: number): Promise<number | undefined> {
    const column = ATTEMPT_COLUMNS[kind];
    // increment and read in one statement, so parallel attempts each see their own count
    const rows: Record<string, number>[] = await this.db('login_requests')
      .where({ id, status: 'pending' })
      .andWhere('expires_at', '>', now)
      .andWhere(column, '<', maxAttempts)
      .increment(column, 1)
      .returning(column);
    return rows.length === 1 ? rows[0][column] : undefined;
  }

  async setStatus(id: string, from: LoginRequestStatus, to: LoginRequestStatus): Promise<boolean> {
    return (await this.#sql.changes('update login_requests set status = ? where id = ? and status = ?', [to, id, from])) === 1;
  }

  async supersedePending(email: string, exceptId: string): Promise<number> {
    return this.#sql.changes("update login_requests set status = 'superseded' where email = ? and status = 'pending' and id <> ?", [email, exceptId]);
  }
}
