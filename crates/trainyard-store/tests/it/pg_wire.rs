//! What the PostgreSQL engine sends on the wire, seen from outside: a proxy between the store
//! and the database reads the client's side of the protocol (PostgreSQL frontend messages) and
//! counts round trips: each simple `Query` and each extended-protocol batch ended by `Sync` is
//! one (the client waits for `ReadyForQuery` before it goes on). Needs `TRAINYARD_TEST_PG_URL`.

use crate::conformance::{new_job, new_version};
use crate::postgres::{Schema, pg_url};
use parking_lot::Mutex;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use trainyard_store::{Location, Store};

/// One connection's round trips, each the statement texts it carried (a simple query's text,
/// or the `Parse`d statements of a batch; empty for a batch without a `Parse`).
type Trips = Arc<Mutex<Vec<Vec<String>>>>;

/// A TCP proxy to one PostgreSQL server that records every connection's round trips.
struct Proxy {
    addr: String,
    conns: Arc<Mutex<Vec<Trips>>>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let conns: Arc<Mutex<Vec<Trips>>> = Arc::default();
        let all = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&target) else {
                    return;
                };
                let trips = Trips::default();
                all.lock().push(trips.clone());
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = relay_frontend(client, server, &trips);
                });
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy { addr, conns }
    }

    /// Every connection's round trips so far.
    fn snapshot(&self) -> Vec<Vec<Vec<String>>> {
        self.conns.lock().iter().map(|t| t.lock().clone()).collect()
    }
}

fn read_exact(r: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0; n];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn cstr(b: &[u8]) -> (String, &[u8]) {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    (
        String::from_utf8_lossy(&b[..end]).into_owned(),
        b.get(end + 1..).unwrap_or(&[]),
    )
}

/// Copies the client's messages to the server, recording round trips (see module docs).
fn relay_frontend(mut c: TcpStream, mut s: TcpStream, trips: &Trips) -> std::io::Result<()> {
    // untyped messages first: SSL/GSS encryption requests (answered by the server), then the
    // startup message
    loop {
        let len = read_exact(&mut c, 4)?;
        let n = u32::from_be_bytes(len[..].try_into().unwrap()) as usize;
        let body = read_exact(&mut c, n - 4)?;
        s.write_all(&len)?;
        s.write_all(&body)?;
        let code = u32::from_be_bytes(body[..4].try_into().unwrap());
        if code != 80_877_103 && code != 80_877_104 {
            break;
        }
    }
    let mut batch: Vec<String> = Vec::new();
    loop {
        let head = read_exact(&mut c, 5)?;
        let n = u32::from_be_bytes(head[1..].try_into().unwrap()) as usize;
        let body = read_exact(&mut c, n - 4)?;
        match head[0] {
            b'Q' => trips.lock().push(vec![cstr(&body).0]),
            b'P' => {
                let (_name, rest) = cstr(&body);
                batch.push(cstr(rest).0);
            }
            b'S' => trips.lock().push(std::mem::take(&mut batch)),
            _ => {}
        }
        s.write_all(&head)?;
        s.write_all(&body)?;
        if head[0] == b'X' {
            let _ = s.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// The round trips on the connections that carried a create, made between two snapshots.
fn create_trips(before: &[Vec<Vec<String>>], after: &[Vec<Vec<String>>]) -> Vec<Vec<String>> {
    after
        .iter()
        .enumerate()
        .filter(|(_, t)| t.iter().flatten().any(|s| is_create(s)))
        .flat_map(|(i, t)| t[before.get(i).map_or(0, Vec::len)..].to_vec())
        .collect()
}

fn is_create(s: &str) -> bool {
    s.starts_with("CALL trainyard_create_job(")
}

/// `host:port` of the test cluster's URL (the proxy forwards there).
fn tcp_target(admin: &str) -> String {
    let config: postgres::Config = admin.parse().unwrap();
    match (&config.get_hosts()[0], config.get_ports().first()) {
        (postgres::config::Host::Tcp(h), Some(p)) => format!("{h}:{p}"),
        other => panic!("TRAINYARD_TEST_PG_URL must name a TCP host and port: {other:?}"),
    }
}

/// A create on PostgreSQL is one round trip: the `CALL trainyard_create_job` that commits
/// inside (it was 12 before: the pool's checkout test, `BEGIN`, five statements, the
/// commit-order lock, the list row read again, the change-log entry, `COMMIT`). The pool tests
/// a connection (an empty simple query, one more round trip) only when it was idle for a second
/// or more. Counted by the proxy on the connections that carried a create: five creates back to
/// back after a warm-up one, then one after 1.2 s idle.
#[test]
fn a_create_is_one_round_trip() {
    let Some(admin) = pg_url() else {
        eprintln!("a_create_is_one_round_trip: PostgreSQL not available, not run");
        return;
    };
    let target = tcp_target(&admin);
    assert!(
        admin.contains(&target),
        "the URL spells its host and port as {target}"
    );
    let schema = Schema::create(&admin);
    let proxy = Proxy::start(target.clone());
    let store = Store::open(&Location::Postgres(schema.url.replacen(
        &target,
        &proxy.addr,
        1,
    )))
    .unwrap();
    store.load_index().unwrap();
    store
        .create_job(&new_job("warm-up", "0"), &new_version(1), 100)
        .unwrap();
    let before = proxy.snapshot();
    for i in 0..5 {
        store
            .create_job(&new_job(&format!("j{i}"), "0"), &new_version(2 + i), 100)
            .unwrap();
    }
    let after = proxy.snapshot();
    let trips = create_trips(&before, &after);
    assert_eq!(trips.len(), 5, "{trips:#?}");
    for t in &trips {
        assert_eq!(t.len(), 1, "{trips:#?}");
        assert!(is_create(&t[0]), "{trips:#?}");
    }
    // idle for more than a second: the checkout tests the connection first
    std::thread::sleep(Duration::from_millis(1200));
    let before = proxy.snapshot();
    store
        .create_job(&new_job("after-idle", "0"), &new_version(9), 100)
        .unwrap();
    let trips = create_trips(&before, &proxy.snapshot());
    assert_eq!(trips.len(), 2, "{trips:#?}");
    assert_eq!(trips[0], vec![String::new()], "{trips:#?}");
    assert!(trips[1].len() == 1 && is_create(&trips[1][0]), "{trips:#?}");
    // and the jobs are there, as a fresh handle (connected directly) reads them
    drop(store);
    let fresh = Store::open(&Location::Postgres(schema.url.clone())).unwrap();
    assert_eq!(fresh.project_job_count("p").unwrap(), 7);
}

/// A store's own writes do not wake its change-log tailer (the writer applies its change
/// itself): over 20 creates on store A, A's tailer reads the log only from its 1 s poll (once
/// per started second of the window; before, every create's notification woke it). Another store's
/// write does wake it: A's index reaches B's create without a list asking (no `sync_index`)
/// well before the poll would.
#[test]
fn own_writes_do_not_wake_the_tailer_other_stores_writes_do() {
    let Some(admin) = pg_url() else {
        eprintln!("own_writes_do_not_wake_the_tailer: PostgreSQL not available, not run");
        return;
    };
    let target = tcp_target(&admin);
    let schema = Schema::create(&admin);
    let proxy = Proxy::start(target.clone());
    let a = Store::open(&Location::Postgres(schema.url.replacen(
        &target,
        &proxy.addr,
        1,
    )))
    .unwrap();
    a.load_index().unwrap();
    a.create_job(&new_job("warm-up", "0"), &new_version(1), 100)
        .unwrap();
    let is_fetch = |s: &String| s.contains("FROM change_log c");
    let fetches = |snap: &[Vec<Vec<String>>]| {
        snap.iter()
            .flatten()
            .filter(|t| t.iter().any(is_fetch))
            .count()
    };
    // the tailer has read the log once at least (the listener's start kicks it)
    let t0 = std::time::Instant::now();
    while fetches(&proxy.snapshot()) == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the tailer never read"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = fetches(&proxy.snapshot());
    let window = std::time::Instant::now();
    for i in 0..20 {
        a.create_job(&new_job(&format!("j{i}"), "0"), &new_version(2 + i), 100)
            .unwrap();
    }
    // let a notification-woken read happen, were there one
    std::thread::sleep(Duration::from_millis(100));
    let during = fetches(&proxy.snapshot()) - before;
    // the tailer's 1 s poll reads once per started second of the window (a loaded machine may
    // stretch the 20 creates past a second); a read per notification would be 20 more
    let polls = 1 + window.elapsed().as_secs() as usize;
    assert!(
        during <= polls,
        "{during} reads of the log for 20 own creates in {:?} (polls: at most {polls})",
        window.elapsed()
    );
    assert_eq!(a.index().read().project_job_count("p"), 21);
    // another store's create reaches A's index through the notification
    let b = Store::open(&Location::Postgres(schema.url.clone())).unwrap();
    let (j, _) = b
        .create_job(&new_job("from-b", "0"), &new_version(50), 100)
        .unwrap();
    let t0 = std::time::Instant::now();
    while a.index().read().get("p", "0", j.job_id).is_none() {
        assert!(
            t0.elapsed() < Duration::from_millis(700),
            "B's create did not reach A's index within 700 ms (the poll is 1 s)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
