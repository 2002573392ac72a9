//! The scheduler lease (issue 12 §4): one row, `scheduler_lease`, says which replica schedules
//! and runs versions, until when, and under which `epoch` (the fencing value).
//!
//! - A replica becomes leader by taking an **expired** lease: `epoch + 1`, its name, a new
//!   expiry (database clock). A leader that resigns (clean shutdown) expires its lease at once;
//!   one that dies (SIGKILL) or stalls (paused, cut off) stops renewing and its lease expires
//!   after its time to live.
//! - The leader renews while its epoch is the lease's; when another replica took over, the
//!   renewal finds another epoch and the old leader steps down.
//! - **Fencing**: a status write made for a leader carries its epoch
//!   ([`crate::StatusUpdate::fence`]); the write reads the lease row `FOR SHARE` in its
//!   transaction and is refused ([`StoreError::Fenced`]) unless the epoch is still the lease's.
//!   A takeover (an `UPDATE` of that row) waits for such writes in flight and every later write
//!   of the old epoch is refused: a paused old leader cannot overwrite the new one's decisions.

use super::PgStore;
use crate::{LeaderInfo, Result, StoreError};
use postgres::GenericClient;
use postgres::types::Type;
use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl PgStore {
    pub(crate) fn pg_try_lead(&self, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        let row = self.conn()?.query_opt(
            "UPDATE scheduler_lease
                SET epoch = epoch + 1, holder = $1,
                    expires_at = clock_timestamp() + $2 * interval '1 millisecond'
              WHERE id = 1 AND expires_at < clock_timestamp()
              RETURNING epoch",
            &[&holder, &(ms(ttl) as f64)],
        )?;
        row.map(|r| Ok(r.try_get::<_, i64>(0)? as u64)).transpose()
    }

    pub(crate) fn pg_renew_lead(&self, epoch: u64, ttl: Duration) -> Result<bool> {
        // every second on the leader: a typed statement is one round trip (no prepare)
        let n = self.conn()?.execute_typed(
            "UPDATE scheduler_lease
                SET expires_at = clock_timestamp() + $2 * interval '1 millisecond'
              WHERE id = 1 AND epoch = $1",
            &[
                (&(epoch as i64), Type::INT8),
                (&(ms(ttl) as f64), Type::FLOAT8),
            ],
        )?;
        Ok(n == 1)
    }

    pub(crate) fn pg_resign_lead(&self, epoch: u64) -> Result<()> {
        self.conn()?.execute(
            "UPDATE scheduler_lease SET expires_at = '-infinity' WHERE id = 1 AND epoch = $1",
            &[&(epoch as i64)],
        )?;
        Ok(())
    }

    pub(crate) fn pg_leader(&self) -> Result<LeaderInfo> {
        let r = self.conn()?.query_one(
            "SELECT epoch, holder,
                    CASE WHEN expires_at > clock_timestamp()
                         THEN (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::BIGINT
                         ELSE 0 END
               FROM scheduler_lease WHERE id = 1",
            &[],
        )?;
        Ok(LeaderInfo {
            epoch: r.try_get::<_, i64>(0)? as u64,
            holder: r.try_get(1)?,
            expires_in_ms: r.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
        })
    }
}

/// Inside a status write for a leader of `epoch`: locks the lease row against a takeover until
/// the commit and refuses the write when another leader took over.
pub(crate) fn check_fence(c: &mut impl GenericClient, epoch: u64) -> Result<()> {
    let current: i64 = c
        .query_one(
            "SELECT epoch FROM scheduler_lease WHERE id = 1 FOR SHARE",
            &[],
        )?
        .try_get(0)?;
    if current as u64 == epoch {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            epoch,
            current: current as u64,
        })
    }
}
