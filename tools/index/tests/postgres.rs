//! The indexer against a real PostgreSQL server that each test starts
//! (initdb in a temp dir, Unix socket only, stopped and removed on drop):
//! kill -9 loop, lapped restart, a terminated connection and a read-only
//! database.

mod common;
use common::scenarios;

use common::*;
use slipstream_tests::PgServer;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Tests do not test power loss: fsync off keeps them fast.
const FAST: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
];

#[test]
fn kill_loop_postgres() {
    let pg = PgServer::start("kill", FAST);
    scenarios::kill_loop_matches_reference(&pg.url("postgres"), "index-kill-pg");
}

#[test]
fn lapped_restart_postgres() {
    let pg = PgServer::start("lapped", FAST);
    scenarios::lapped_restart_names_the_gap(&pg.url("postgres"), "index-lapped-pg");
}

/// The server ends the indexer's session (pg_terminate_backend) while it
/// indexes a live node: a clear error; then the database goes read-only: a
/// clear error; each retry loses nothing.
#[test]
fn dropped_connection_and_read_only_postgres() {
    let pg = PgServer::start("drop", FAST);
    let url = pg.url("postgres");
    let ring = slipstream_tests::TempRing::new("index-drop-pg");
    let mut a = scenarios::SMALL.to_vec();
    a.extend(["--flat-out", "--blocks", "50"]);
    sim(ring.path(), &a);
    let node = sim_thread(
        ring.path(),
        &[scenarios::SMALL, &["--rate", "50", "--duration", "3s"]].concat(),
    );
    let child = indexer()
        .arg(ring.path())
        .args(["--db", &url, "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut guard = slipstream_tests::ChildGuard::new(child);
    let mut admin = postgres::Client::connect(
        &format!(
            "host={} user=postgres dbname=postgres",
            pg.socket_dir().display()
        ),
        postgres::NoTls,
    )
    .expect("connect as admin");
    // Wait until the indexer has committed something, then end its session.
    let deadline = Instant::now() + Duration::from_secs(20);
    while position(&url).is_none_or(|p| p.height < 60) {
        assert!(Instant::now() < deadline, "the indexer did not get going");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended: i64 = admin
        .query_one(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'slipstream-index' AND pid <> pg_backend_pid()) t",
            &[],
        )
        .expect("terminate")
        .get(0);
    assert!(ended >= 1, "no indexer session to terminate");
    guard.wait_timeout(
        Duration::from_secs(20),
        "the indexer after its session ended",
    );
    let out = guard.take().wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("database: PostgreSQL")
            && err.contains("nothing of the failed transaction was kept"),
        "unclear error: {err}"
    );
    eprintln!("terminated: {}", err.trim());
    node.join().expect("node");

    admin
        .batch_execute("ALTER DATABASE postgres SET default_transaction_read_only = on")
        .expect("read-only");
    let before = position(&url);
    let (ok, err) = index_until_idle(ring.path(), &url, &[]);
    assert!(
        !ok && err.contains("read-only transaction"),
        "unclear error: {err}"
    );
    eprintln!("read-only: {}", err.trim());
    admin
        .batch_execute("ALTER DATABASE postgres SET default_transaction_read_only = off")
        .expect("writable");
    assert_eq!(position(&url), before);

    // The key=value form of the same database (the URL form is used above).
    let kv = format!(
        "postgres:host={} user=postgres dbname=postgres",
        pg.socket_dir().display()
    );
    let (ok, err) = index_until_idle(ring.path(), &kv, &[]);
    assert!(ok, "retry: {err}");
    let mut want = Reference::default();
    want.read_ring(ring.path(), None, None);
    assert_same(&dump(&url), &want.dump());
}
