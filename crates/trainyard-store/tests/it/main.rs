//! The store's integration tests: the conformance suite (`conformance.rs`), run on every engine
//! by `store_test_suite!` (`sqlite.rs`), plus engine-specific tests.

#[macro_use]
mod conformance;
mod pg_replicas;
mod pg_wire;
mod postgres;
mod sqlite;
