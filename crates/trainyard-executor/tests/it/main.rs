//! Integration tests of the local executor: real processes, bounded in time.

mod adopt;
mod contain;
mod helpers;
mod logs;
mod preflight;
mod run;
mod slurm;
mod stop;
mod submit;
