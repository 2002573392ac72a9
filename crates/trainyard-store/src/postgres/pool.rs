//! The connection pool's manager: `r2d2_postgres`'s, except that a connection put back into the
//! pool less than [`FRESH`] ago is handed out without the test query (`r2d2`'s checkout test
//! costs one round trip to the database on every store call); an older one is tested first, as
//! before, so connections left idle across a database restart are replaced unseen. The pool
//! hands out the most recently returned connection first, so a busy server skips the test on
//! almost every call. A database restart within [`FRESH`] of a connection's last use surfaces
//! as one failed call ([`crate::StoreError::Unavailable`]) on that connection, which is then
//! dropped (it reports itself closed).

use postgres::{Client, NoTls};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;
use std::time::{Duration, Instant};

/// A connection returned to the pool this recently is handed out without a test query.
pub(crate) const FRESH: Duration = Duration::from_secs(1);

/// See module docs.
pub(crate) struct Manager(pub(crate) PostgresConnectionManager<NoTls>);

/// A pooled client and when it was last put back (or connected).
pub(crate) struct PgConn {
    client: Client,
    returned: Instant,
}

impl std::ops::Deref for PgConn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            returned: Instant::now(),
        })
    }

    fn is_valid(&self, c: &mut PgConn) -> Result<(), postgres::Error> {
        if c.returned.elapsed() < FRESH && !c.client.is_closed() {
            return Ok(());
        }
        self.0.is_valid(&mut c.client)
    }

    fn has_broken(&self, c: &mut PgConn) -> bool {
        c.returned = Instant::now();
        self.0.has_broken(&mut c.client)
    }
}
