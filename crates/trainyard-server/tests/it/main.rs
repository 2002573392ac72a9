//! Integration tests of the server over real HTTP on 127.0.0.1 (one binary, one module per
//! area; `common` starts servers).

mod abuse;
mod auth;
mod common;
mod configs;
mod console;
mod contain;
mod differential;
mod faults;
mod lifecycle;
mod list;
mod logs;
mod openapi;
mod ops;
mod recovery;
mod sdk;
mod slurm;
