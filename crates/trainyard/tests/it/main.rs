//! Integration tests of the `trainyard` binary (one test binary, one module per area).

mod abuse;
mod admin;
mod cli;
mod contain;
mod durability;
mod executor;
mod ops;
mod pg;
mod replicas;
mod runs;
mod server;
mod slurm;
