//! trainyard binary
fn main() {}
