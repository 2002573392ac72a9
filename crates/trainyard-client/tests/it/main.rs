//! HTTP behaviour of the SDK against a scripted fake server (no real trainyard server needed).

mod fake;
mod follow;
mod listing;
mod retry;
mod signing;
mod token;
