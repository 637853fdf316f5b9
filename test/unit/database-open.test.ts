import { expect } from 'chai';
import { DatabaseOpenError, databaseSetting, explainOpenFailure, isPermanentSqliteFailure, redactedPostgresUrl } from '../../src/store/database-open.js';

const pg = { client: 'postgres' as const, url: 'postgres://sesame:s3cret@db.internal:6543/idp?sslmode=require' };
const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('database-open: what start-up says when the database cannot be opened', () => {
  it('prints a PostgreSQL URL without its password or options', () => {
    expect(redactedPostgresUrl(pg.url)).to.equal('postgres://sesame:***@db.internal:6543/idp');
    expect(redactedPostgresUrl('postgres://db.internal/idp')).to.equal('postgres://db.internal/idp');
  });

  it('names DATABASE_URL, the host and port tried, and the cause, without the password', () => {
    for (const [code, cause] of [['ECONNREFUSED', /connection refused/], ['ENOTFOUND', /host name not found/], ['28P01', /password authentication failed/], ['3D000', /does not exist/]] as const) {
      const explained = explainOpenFailure(pg, {}, coded(code));
      expect(explained).to.be.instanceOf(DatabaseOpenError);
      const message = (explained as Error).message;
      expect(message).to.match(/^DATABASE_URL: /).and.match(cause).and.include('db.internal:6543').and.include('user sesame').and.include('database idp');
      expect(message).not.to.include('s3cret');
      expect(message).not.to.include('\n');
    }
  });

  it('leaves an error that is not about reaching the database (a broken migration) as it is', () => {
    const bug = coded('42P01', 'relation "nope" does not exist');
    expect(explainOpenFailure(pg, {}, bug)).to.equal(bug);
    const sqliteBug = coded('SQLITE_ERROR', 'no such table: nope');
    expect(explainOpenFailure({ client: 'sqlite', filename: '/tmp/x.sqlite' }, {}, sqliteBug)).to.equal(sqliteBug);
  });

  it('names DATA_DIR for the default file, DATABASE_URL for one given', () => {
    expect(databaseSetting({ client: 'sqlite', filename: '/srv/sesame/sesame.sqlite' }, { dataDir: '/srv/sesame' })).to.equal('DATA_DIR');
    expect(databaseSetting({ client: 'sqlite', filename: '/srv/other.sqlite' }, { dataDir: '/srv/sesame' })).to.equal('DATABASE_URL');
    expect(databaseSetting(pg, { dataDir: '/srv/sesame' })).to.equal('DATABASE_URL');
  });

  it('retries a SQLite migration only for what passes (another process at it), never for a file it cannot open or write', () => {
    for (const code of ['SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_READONLY_DIRECTORY', 'SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'EACCES', 'EROFS', 'ENOSPC']) {
      expect(isPermanentSqliteFailure(coded(code)), code).to.equal(true);
    }
    for (const code of ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_ERROR']) expect(isPermanentSqliteFailure(coded(code)), code).to.equal(false);
    expect(isPermanentSqliteFailure(new Error('Migration table is already locked'))).to.equal(false);
  });
});
