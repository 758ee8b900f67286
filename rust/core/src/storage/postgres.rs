//! The PostgreSQL backend: [`Objects`] and [`Records`] in tables of one
//! schema, and the *lease* that lets one publisher at a time write.
//!
//! A store is the schema a connection URL selects (its `search_path`, e.g.
//! `?options=-csearch_path%3Dkt1`); the tables are made on first use:
//! - `veritree_objects (name text COLLATE "C" PRIMARY KEY, data bytea)`:
//!   objects and heads alike (a head is one row, replaced in a transaction);
//! - `veritree_records (seq bigint PRIMARY KEY, data bytea)`;
//! - `veritree_leases (name text PRIMARY KEY, epoch bigint)`.
//!
//! The lease is two things. A session-level advisory lock, which the server
//! frees when the holder's session ends (a killed process's socket closes at
//! once; a lost host is found by TCP keepalives, set short on the session),
//! so a waiting publisher takes over within seconds. And a fence: taking the
//! lease bumps its epoch, and every write of a leased store runs in a
//! transaction that first checks, holding the lease row, that the epoch is
//! still its own; a publisher that lost its session and did not notice
//! cannot write past its successor, so two publishers never publish two
//! different heads.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use postgres::{Client, NoTls, Transaction};

use super::{Objects, Records};
use crate::error::{damaged, io, locked, not_found, Result};

/// A failure of the database (or of the connection to it). The message
/// names the statement's purpose, never the URL (it may hold a password).
fn pg(what: &str) -> impl Fn(postgres::Error) -> crate::error::Error + '_ {
    move |e| io(format!("PostgreSQL ({what}): {e}"))
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS veritree_objects (name text COLLATE "C" PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE IF NOT EXISTS veritree_records (seq bigint PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE IF NOT EXISTS veritree_leases (name text PRIMARY KEY, epoch bigint NOT NULL);
"#;

/// Whether `target` names a PostgreSQL database (a connection URL).
pub fn is_url(target: &str) -> bool {
    target.starts_with("postgresql://") || target.starts_with("postgres://")
}

/// A connection to the store `url` selects, its tables made if missing
/// (on a primary: a hot standby is read-only, and gets them by replication).
pub fn connect(url: &str) -> Result<Client> {
    let mut config: postgres::Config = url.parse().map_err(pg("parse the URL"))?;
    // A server or network that goes away fails a call within seconds
    // instead of leaving it blocked (and a reader's lock held) for as long
    // as TCP retransmits.
    config
        .connect_timeout(Duration::from_secs(10))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    let mut client = config.connect(NoTls).map_err(pg("connect"))?;
    let standby: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).map_err(pg("connect"))?.get(0);
    // Tables made by two processes at once may race on the catalog: the
    // loser finds them made when it tries again.
    if !standby && client.batch_execute(SCHEMA).is_err() {
        client.batch_execute(SCHEMA).map_err(pg("create the tables"))?;
    }
    Ok(client)
}

/// The right to write a store, held by one session (see the module doc).
#[derive(Debug)]
pub struct Lease {
    name: String,
    epoch: i64,
}

impl Lease {
    /// Takes the lease `name` on `client`'s session: `Locked` if another
    /// session holds it.
    pub fn take(client: &mut Client, name: &str) -> Result<Lease> {
        let standby: bool = client.query_one("SELECT pg_is_in_recovery()", &[]).map_err(pg("connect"))?.get(0);
        if standby {
            return Err(io("the database is a read-only standby: a publisher opens the primary"));
        }
        // Seconds, not hours, before the server finds a lost holder gone.
        client
            .batch_execute(
                "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; \
                 SET client_connection_check_interval = '2s'",
            )
            .map_err(pg("set keepalives"))?;
        let key = "hashtextextended(current_schema() || '/veritree/' || $1, 0)";
        let got: bool = client
            .query_one(&format!("SELECT pg_try_advisory_lock({key})"), &[&name])
            .map_err(pg("take the lease"))?
            .get(0);
        if !got {
            return Err(locked(format!("another publisher holds the lease {name:?} of this database")));
        }
        let epoch: i64 = client
            .query_one(
                "INSERT INTO veritree_leases VALUES ($1, 1) \
                 ON CONFLICT (name) DO UPDATE SET epoch = veritree_leases.epoch + 1 RETURNING epoch",
                &[&name],
            )
            .map_err(pg("bump the lease's epoch"))?
            .get(0);
        Ok(Lease { name: name.to_string(), epoch })
    }

    /// Fails (`Locked`) unless the lease is still this one; holds its row
    /// until `tx` ends, so no successor takes it in between.
    pub fn check(&self, tx: &mut Transaction<'_>) -> Result<()> {
        let row = tx
            .query_opt("SELECT epoch FROM veritree_leases WHERE name = $1 FOR SHARE", &[&self.name])
            .map_err(pg("check the lease"))?;
        match row.map(|r| r.get::<_, i64>(0)) {
            Some(e) if e == self.epoch => Ok(()),
            _ => Err(locked(format!("this publisher lost the lease {:?} to another", self.name))),
        }
    }
}

/// [`Objects`] in PostgreSQL; writes fenced by a [`Lease`] when one is taken.
pub struct PgObjects {
    client: Mutex<Client>,
    lease: Option<Lease>,
}

impl PgObjects {
    /// The objects of the store `url` selects, read-only until a lease is taken.
    pub fn connect(url: &str) -> Result<PgObjects> {
        Ok(PgObjects { client: Mutex::new(connect(url)?), lease: None })
    }

    /// Takes the lease `name` (`Locked` if another session holds it): from
    /// here every write checks that it is still held.
    pub fn take_lease(&mut self, name: &str) -> Result<()> {
        let lease = Lease::take(self.client.get_mut().unwrap_or_else(PoisonError::into_inner), name)?;
        self.lease = Some(lease);
        Ok(())
    }

    /// Runs `f` in a transaction, after the lease check if one is held.
    fn write(&self, what: &str, f: impl FnOnce(&mut Transaction<'_>) -> Result<()>) -> Result<()> {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tx = client.transaction().map_err(pg(what))?;
        if let Some(lease) = &self.lease {
            lease.check(&mut tx)?;
        }
        f(&mut tx)?;
        tx.commit().map_err(pg(what))
    }

    /// Rows of a read; none where the tables are not made yet (a standby
    /// that has not replicated them).
    fn query(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<postgres::Row>> {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        match client.query(sql, params) {
            Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => Ok(Vec::new()),
            rows => rows.map_err(pg("read objects")),
        }
    }
}

fn upsert(tx: &mut Transaction<'_>, name: &str, data: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT INTO veritree_objects VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET data = excluded.data",
        &[&name, &data],
    )
    .map_err(pg("write an object"))?;
    Ok(())
}

/// `s` as a `LIKE` pattern matching itself.
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Objects for PgObjects {
    fn get(&self, name: &str, max_len: usize) -> Result<Vec<u8>> {
        // The length first: a damaged or hostile row is not read whole.
        let rows = self.query(
            "SELECT octet_length(data), CASE WHEN octet_length(data) <= $2::bigint THEN data END \
             FROM veritree_objects WHERE name = $1",
            &[&name, &(max_len.min(i64::MAX as usize) as i64)],
        )?;
        let row = rows.first().ok_or_else(|| not_found(format!("no object {name}")))?;
        match row.get::<_, Option<Vec<u8>>>(1) {
            Some(data) => Ok(data),
            None => Err(damaged(format!("{name} is {} bytes, more than {max_len}", row.get::<_, i32>(0)))),
        }
    }

    fn put(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        self.write("write objects", |tx| objects.iter().try_for_each(|(name, data)| upsert(tx, name, data)))
    }

    fn put_head(&self, name: &str, data: &[u8]) -> Result<()> {
        self.write("write a head", |tx| upsert(tx, name, data))
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(!self.query("SELECT 1 FROM veritree_objects WHERE name = $1", &[&name])?.is_empty())
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.write("delete an object", |tx| {
            tx.execute("DELETE FROM veritree_objects WHERE name = $1", &[&name]).map_err(pg("delete an object"))?;
            Ok(())
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let folder = format!("{}/", prefix.trim_end_matches('/'));
        let rows = self.query(
            "SELECT name FROM veritree_objects WHERE name LIKE $1 AND strpos(substr(name, $2), '/') = 0 ORDER BY name",
            &[&format!("{}%", like_escaped(&folder)), &(folder.chars().count() as i32 + 1)],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// On a hot standby: 0 when it has replayed all the WAL it received,
    /// else the age of the last transaction it replayed (how old its view
    /// of the primary is). `None` on a primary.
    fn replica_lag_ms(&self) -> Result<Option<u64>> {
        let rows = self.query(
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL \
                    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                    ELSE greatest(0, (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000))::bigint END",
            &[],
        )?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)).map(|ms| ms as u64))
    }
}

/// [`Records`] in PostgreSQL: one row per record, numbered from 0.
pub struct PgRecords {
    /// Behind a lock only to be `Sync` (appends take `&mut self`).
    client: Mutex<Client>,
    next: i64,
    #[cfg(test)]
    faults: u32,
}

impl PgRecords {
    /// The records of the store `url` selects, and every record found.
    pub fn open(url: &str) -> Result<(PgRecords, Vec<Vec<u8>>)> {
        let mut client = connect(url)?;
        let rows = client.query("SELECT data FROM veritree_records ORDER BY seq", &[]).map_err(pg("read records"))?;
        let found: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
        let next = found.len() as i64;
        Ok((
            PgRecords {
                client: Mutex::new(client),
                next,
                #[cfg(test)]
                faults: 0,
            },
            found,
        ))
    }
}

impl Records for PgRecords {
    fn append(&mut self, record: &[u8]) -> Result<()> {
        #[cfg(test)]
        if self.faults > 0 {
            self.faults -= 1;
            return Err(io("PostgreSQL (append a record): an injected fault"));
        }
        // The sequence number is the primary key: a second writer's append
        // at the same number fails instead of forking the sequence.
        self.client
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .execute("INSERT INTO veritree_records VALUES ($1, $2)", &[&self.next, &record])
            .map_err(pg("append a record"))?;
        self.next += 1;
        Ok(())
    }

    #[cfg(test)]
    fn inject_faults(&mut self, n: u32) {
        self.faults = n;
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A fresh schema of the test server for each test.

    use super::*;

    /// The test server's URL (`VERITREE_TEST_PG`), or `None` with the reason
    /// printed; with `VERITREE_REQUIRE_PG` set (CI) a missing server fails.
    pub fn server() -> Option<String> {
        match std::env::var("VERITREE_TEST_PG") {
            Ok(url) => Some(url),
            Err(_) if std::env::var_os("VERITREE_REQUIRE_PG").is_some() => {
                panic!("VERITREE_REQUIRE_PG is set but VERITREE_TEST_PG names no server")
            }
            Err(_) => {
                eprintln!("skipped: no PostgreSQL (start one with `eval \"$(bash .ci/postgres start)\"`)");
                None
            }
        }
    }

    /// A URL selecting a new, empty schema of `server`.
    pub fn fresh_schema(server: &str) -> String {
        let mut id = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        let schema = format!("t{}", hex::encode(id));
        let mut c = Client::connect(server, NoTls).expect("the test server");
        c.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("a schema");
        let sep = if server.contains('?') { '&' } else { '?' };
        format!("{server}{sep}options=-csearch_path%3D{schema}")
    }
}
