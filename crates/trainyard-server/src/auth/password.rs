//! Password checks (argon2id, about 19 MiB and tens of milliseconds each) run on a few threads
//! of their own, never on the async workers nor on tokio's unbounded blocking pool:
//!
//! - at most `threads` checks run at once (config `password_check_threads`, default half the
//!   CPUs), so memory is bounded by `threads × 19 MiB` whatever the number of requests;
//! - at most `queue` more wait (`password_check_queue`); a request beyond that is refused at
//!   once ([`Busy`], answered 429 `ModelArts.2799` with `Retry-After`);
//! - the threads run at a lower CPU priority (config `password_check_nice`, default
//!   [`DEFAULT_NICE`], on Linux; best effort), so a login flood cannot slow the API's own
//!   requests down: they take the CPU back at once. The price: on a machine busy with other
//!   work at normal priority, logins wait for spare CPU (set 0 to compete equally);
//! - a check whose requester went away (connection closed) is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// The default nice value of the password threads (0 is normal, 19 the lowest priority).
pub const DEFAULT_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The password-check threads and their bounded queue.
#[derive(Debug)]
pub struct PasswordChecks {
    tx: SyncSender<Job>,
    threads: usize,
    queue: usize,
    /// Checks sent and not yet started (approximate between the two updates).
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// The queue is full: answer 429 at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy;

impl PasswordChecks {
    /// Starts `threads` threads (at least 1) at nice value `nice` with room for `queue`
    /// waiting checks.
    pub fn start(threads: usize, queue: usize, nice: i32) -> std::io::Result<PasswordChecks> {
        let threads = threads.max(1);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(parking_lot::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("trainyard-password-{i}"))
                .spawn(move || worker(&rx, nice))?;
        }
        Ok(PasswordChecks {
            tx,
            threads,
            queue,
            waiting: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `check` on a password thread and returns its result; [`Busy`] at once when the
    /// queue is full. `None` if the check panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (running, peak) = (self.running.clone(), self.peak.clone());
        let waiting = self.waiting.clone();
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::AcqRel);
            if reply.is_closed() {
                return;
            }
            let now = running.fetch_add(1, Ordering::AcqRel) + 1;
            peak.fetch_max(now, Ordering::AcqRel);
            let out = check();
            running.fetch_sub(1, Ordering::AcqRel);
            let _ = reply.send(out);
        });
        self.waiting.fetch_add(1, Ordering::AcqRel);
        match self.tx.try_send(job) {
            Ok(()) => Ok(answer.await.ok()),
            Err(TrySendError::Full(_)) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                Err(Busy)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                Ok(None)
            }
        }
    }

    /// False when the queue looks full (a check sent now would most likely be [`Busy`]): lets
    /// a login be refused before its store lookup. Advisory; [`PasswordChecks::run`] decides.
    pub fn has_room(&self) -> bool {
        self.waiting.load(Ordering::Acquire) < self.queue.max(1)
    }

    /// Threads (checks that may run at once).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The most checks that ever ran at once (never above [`PasswordChecks::threads`]).
    pub fn peak_running(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

fn worker(rx: &parking_lot::Mutex<Receiver<Job>>, nice: i32) {
    lower_priority(nice);
    loop {
        let job = rx.lock().recv();
        match job {
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

/// Lowers this thread's CPU priority to `nice` unless it is lower already (Linux keeps a
/// nice value per thread; `None` is the calling thread).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let current = rustix::process::getpriority_process(None).unwrap_or(0);
        if current < nice
            && let Err(e) = rustix::process::setpriority_process(None, nice)
        {
            tracing::debug!(error = %e, "could not lower the password threads' priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_threads_run_and_a_full_queue_is_busy_at_once() {
        let checks = Arc::new(PasswordChecks::start(2, 3, 0).unwrap());
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let c = checks.clone();
            tasks.push(tokio::spawn(async move {
                c.run(|| std::thread::sleep(Duration::from_millis(500)))
                    .await
            }));
        }
        let mut done = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(Some(())) => done += 1,
                Err(Busy) => busy += 1,
                Ok(None) => panic!("lost"),
            }
        }
        assert_eq!(done + busy, 20);
        // 2 running + 3 queued are accepted while the first ones sleep; the rest are busy.
        assert!(busy >= 10, "busy {busy}");
        assert!(done >= 2, "done {done}");
        assert!(checks.peak_running() <= 2, "peak {}", checks.peak_running());
    }

    #[test]
    fn password_threads_run_at_a_lower_priority() {
        let checks = PasswordChecks::start(1, 1, DEFAULT_NICE).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (mine, theirs) = rt.block_on(async {
            let mine = rustix::process::getpriority_process(None).unwrap();
            let theirs = checks
                .run(|| rustix::process::getpriority_process(None).unwrap())
                .await
                .unwrap()
                .unwrap();
            (mine, theirs)
        });
        assert_eq!(theirs, mine.max(DEFAULT_NICE));
    }
}
