//! Logs written by real workers.

use std::time::Duration;

use trainyard_executor::logs::{LogFollower, LogOrder, read_lines};
use trainyard_executor::{copy_logs, log_path};

use crate::helpers::{App, bounded};

const PRINT_120: &str = "i=1; while [ $i -le 120 ]; do printf 'line-%04d\\n' $i; i=$((i+1)); done";

fn get(
    path: &std::path::Path,
    base: &str,
    lines: usize,
    order: LogOrder,
) -> (trainyard_executor::logs::LogPage, Vec<String>) {
    let p = read_lines(path, Some(base), lines, order).expect("read");
    let l: Vec<String> = p.content.lines().map(str::to_owned).collect();
    assert_eq!(l.len(), p.lines);
    (p, l)
}

/// The conformance case `case_logs_file_names_and_lines`, step by step, on a real run's log.
#[tokio::test]
async fn conformance_walk_on_a_worker_log() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, PRINT_120))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    let path = ex_log(&ex, &h);
    let want: Vec<String> = (1..=120).map(|i| format!("line-{i:04}")).collect();

    let (r1, l1) = get(&path, "", 50, LogOrder::Desc);
    assert_eq!(l1, want[70..]);
    let mut back = vec![l1];
    let mut cur = r1.clone();
    for _ in 0..6 {
        let (r, lines) = get(&path, &cur.start_line, 50, LogOrder::Asc);
        if lines.is_empty() {
            assert_eq!(r.start_line, cur.start_line);
            assert_eq!(r.end_line, cur.start_line);
            break;
        }
        back.insert(0, lines);
        cur = r;
    }
    assert_eq!(back.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
    assert_eq!(back.concat(), want);
    let oldest = cur.clone();
    let mut fwd = vec![back[0].clone()];
    for _ in 0..6 {
        let (r, lines) = get(&path, &cur.end_line, 50, LogOrder::default());
        if lines.is_empty() {
            break;
        }
        fwd.push(lines);
        cur = r;
    }
    assert_eq!(fwd.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
    assert_eq!(fwd.concat(), want);
    let (_, l4) = get(&path, &oldest.start_line, 5, LogOrder::Desc);
    assert_eq!(l4, want[1..6]);
    let (_, l5) = get(&path, &r1.end_line, 50, LogOrder::Desc);
    assert!(l5.is_empty());
}

fn ex_log(
    ex: &trainyard_executor::LocalExecutor,
    h: &trainyard_executor::RunHandle,
) -> std::path::PathBuf {
    use trainyard_executor::Executor;
    let p = ex.log_path(h, 0);
    assert_eq!(p, log_path(&h.log_dir, 0));
    p
}

#[tokio::test]
async fn unterminated_last_line_is_completed_when_the_run_ends() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "printf 'a\\nb'"))
        .await
        .expect("submit");
    bounded(ex.wait(&h)).await.expect("wait");
    let p = read_lines(&log_path(&app.logs(), 0), None, 50, LogOrder::Desc).expect("read");
    assert_eq!(p.content, "a\nb\n");
}

#[tokio::test]
async fn logs_are_appended_and_copied_per_worker() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 2, "echo \"hello from $RANK\""))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    ex.forget(&h);
    // a second run of another version into the same directory appends
    let h = ex
        .submit(&app.shell(2, 2, "echo \"again $RANK\""))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    let dest = app.path().join("log_url");
    let names = ["job-V0001.0".to_owned(), "job-V0001.1".to_owned()];
    let copied = copy_logs(&app.logs(), 2, &dest, &names).expect("copy");
    assert_eq!(copied.len(), 2);
    assert_eq!(
        std::fs::read_to_string(dest.join("job-V0001.1")).expect("read"),
        "hello from 1\nagain 1\n"
    );
}

#[tokio::test]
async fn follower_tails_a_running_worker() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "for i in 1 2 3; do echo tick-$i; sleep 0.1; done"))
        .await
        .expect("submit");
    let mut f =
        LogFollower::new(log_path(&app.logs(), 0), 0).with_poll_interval(Duration::from_millis(50));
    let mut text = String::new();
    while !text.contains("tick-3\n") {
        let c = bounded(f.next_chunk()).await.expect("chunk");
        text.push_str(&c.text);
    }
    assert_eq!(text, "tick-1\ntick-2\ntick-3\n");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
}
