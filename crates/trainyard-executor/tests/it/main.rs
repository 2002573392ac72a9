//! Integration tests of the local executor: real processes, bounded in time.

mod adopt;
mod helpers;
mod logs;
mod run;
mod stop;
mod submit;
