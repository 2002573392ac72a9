//! The conformance suite on PostgreSQL: each test gets a fresh schema of the database at
//! `TRAINYARD_TEST_PG_URL` (dropped afterwards). Without that variable the tests say so and
//! pass, unless `TRAINYARD_REQUIRE_PG=1` (CI), where a missing database fails them.

use crate::conformance::Harness;
use std::sync::atomic::{AtomicU64, Ordering};
use trainyard_store::{Location, Store};

/// The admin URL, or `None` when PostgreSQL tests are not asked for.
pub fn pg_url() -> Option<String> {
    match std::env::var("TRAINYARD_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_PG").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_PG=1 but TRAINYARD_TEST_PG_URL is not set"
            );
            None
        }
    }
}

/// A schema that is dropped with its contents when this is dropped.
pub struct Schema {
    admin: String,
    /// The schema's name.
    pub name: String,
    /// A URL whose connections use only this schema.
    pub url: String,
}

impl Schema {
    /// Creates a fresh schema.
    pub fn create(admin: &str) -> Schema {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "ty_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .unwrap();
        let sep = if admin.contains('?') { '&' } else { '?' };
        Schema {
            admin: admin.to_owned(),
            url: format!("{admin}{sep}options=-csearch_path%3D{name}"),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn harness() -> Option<Harness> {
    let admin = pg_url()?;
    let schema = Schema::create(&admin);
    let location = Location::Postgres(schema.url.clone());
    Some(Harness {
        open: Box::new(move || Store::open(&location).unwrap()),
        cases: 8,
        _guard: Box::new(schema),
    })
}

store_test_suite!(harness);
