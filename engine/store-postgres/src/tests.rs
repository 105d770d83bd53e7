//! The PostgreSQL store against a real server: `WANGGE_TEST_POSTGRES_URL`
//! (set by `.ci/run`); without it these tests are ignored, saying so. Each
//! test works in a schema of its own, dropped at the end, so they run in
//! parallel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wangge_store::{LedgerSpace, OrgRegistry, PolicyVersions, Settings, StoreErrorKind};

use crate::PgStore;

fn url() -> String {
    std::env::var("WANGGE_TEST_POSTGRES_URL").unwrap_or_default()
}

/// A store in a fresh schema, dropped with the guard.
struct Fresh(PgStore);

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = self.0.drop_schema();
    }
}

fn fresh(name: &str) -> Fresh {
    static N: AtomicU64 = AtomicU64::new(0);
    let schema = format!(
        "t_{name}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    Fresh(PgStore::connect(&url(), &schema, Duration::from_secs(10)).unwrap())
}

fn unit(id: &str, parent: Option<&str>) -> wangge_policy::Unit {
    wangge_policy::Unit {
        id: id.into(),
        name: format!("单位{id}"),
        level: if parent.is_some() { "社区" } else { "街道" }.into(),
        parent: parent.map(str::to_string),
        households: 0,
        rural: false,
        kind: None,
        party_members: 0,
        probationary_members: 0,
        organizations: 0,
        ladder: None,
    }
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn registry_policies_ledger_and_settings_round_trip() {
    let s = fresh("roundtrip");
    let s = &s.0;
    s.put_units(&[unit("S1", None), unit("C1", Some("S1"))])
        .unwrap();
    s.put_units(&[unit("C1", Some("S1"))]).unwrap();
    let units = s.units().unwrap();
    assert_eq!(
        units.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["C1", "S1"]
    );
    assert_eq!(s.unit("C1").unwrap().unwrap().parent.as_deref(), Some("S1"));
    assert!(s.has_unit("S1").unwrap() && !s.has_unit("S9").unwrap());
    s.put_policy("abc", b"policy").unwrap();
    assert_eq!(
        s.policies().unwrap(),
        [("abc".to_string(), b"policy".to_vec())]
    );
    s.put_setting("active", b"abc").unwrap();
    assert_eq!(s.setting("active").unwrap().as_deref(), Some(&b"abc"[..]));
    assert_eq!(s.setting("none").unwrap(), None);
    s.ledger_put(vec![
        (b"a\0x".to_vec(), b"1".to_vec()),
        (b"a\0y".to_vec(), b"2".to_vec()),
        (b"b\0x".to_vec(), b"3".to_vec()),
        (vec![b'a', 255], b"4".to_vec()),
    ])
    .unwrap();
    let mut seen = Vec::new();
    s.ledger_scan(b"a", &mut |k, v| {
        seen.push((k.to_vec(), v.to_vec()));
        true
    })
    .unwrap();
    assert_eq!(seen.len(), 3, "a␀x, a␀y and a\\xff, not b");
    assert_eq!(s.ledger_get(b"b\0x").unwrap().as_deref(), Some(&b"3"[..]));
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn a_schema_newer_than_this_build_is_refused_at_start() {
    let s = fresh("newer");
    let schema = s.0.schema().to_string();
    s.0.run(|pool, schema| async move {
        let c = crate::client(&pool).await?;
        c.batch_execute(&format!("INSERT INTO {schema}.wangge_schema VALUES (99)"))
            .await
            .map_err(|e| crate::db_error(e, "test"))
    })
    .unwrap();
    let again = PgStore::connect(&url(), &schema, Duration::from_secs(10));
    let e = again.err().expect("refused");
    assert_eq!(e.kind(), StoreErrorKind::Corrupt);
    assert!(e.to_string().contains("version 99, newer"), "{e}");
    // Connecting to an up-to-date schema again changes nothing.
    s.0.put_setting("k", b"v").unwrap();
}

#[test]
fn a_database_that_cannot_be_reached_is_unavailable_promptly() {
    let started = std::time::Instant::now();
    let e = PgStore::connect(
        "postgres://nobody@127.0.0.1:1/none",
        "wangge",
        Duration::from_secs(2),
    )
    .err()
    .expect("no database there");
    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = PgStore::connect("not a url", "wangge", Duration::from_secs(2))
        .err()
        .expect("refused");
    assert!(e.to_string().contains("is not a PostgreSQL URL"), "{e}");
}

impl std::ops::Deref for Fresh {
    type Target = PgStore;
    fn deref(&self) -> &PgStore {
        &self.0
    }
}

mod conformance {
    wangge_store::conformance_suite!(
        attrs [#[cfg_attr(not(pg_tests), ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL")]]
        super::fresh("conformance")
    );
}

/// A second server on the schema of `first`.
fn second(first: &PgStore, lease: Duration) -> PgStore {
    let mut options = crate::PgOptions::new(first.schema());
    options.lease = lease;
    PgStore::connect_with(&url(), options).unwrap()
}

/// `(sequence, case, event)` of everything on `store`'s feed, once it
/// holds `n` events (waiting up to 10 s for other servers' to arrive).
fn feed_of(store: &PgStore, n: usize) -> Vec<(u64, u64, u64)> {
    use wangge_store::ChangeFeed;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = store
            .feed()
            .read(1, 10_000, Duration::from_millis(100))
            .unwrap();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got.iter().map(|(q, e)| (*q, e.case_id, e.seq)).collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn two_servers_on_one_schema_hand_out_distinct_ids_and_see_one_feed_order() {
    let a = fresh("two_servers");
    let b = second(&a, Duration::from_secs(30));
    let ((ids_a, seqs_a), (ids_b, seqs_b)) = std::thread::scope(|s| {
        let ta = s.spawn(|| wangge_store::conformance::fill(&*a, 30).unwrap());
        let tb = s.spawn(|| wangge_store::conformance::fill(&b, 30).unwrap());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let ids: std::collections::HashSet<_> = ids_a.iter().chain(&ids_b).collect();
    assert_eq!(ids.len(), 60, "every case id handed out once");
    let mut seqs: Vec<u64> = seqs_a.iter().chain(&seqs_b).copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=90).collect::<Vec<u64>>(),
        "one gapless global order"
    );
    let (on_a, on_b) = (feed_of(&a, 90), feed_of(&b, 90));
    assert_eq!(on_a.len(), 90, "server A saw B's events too");
    assert_eq!(on_a, on_b, "both servers' watchers see the same order");
}

#[test]
#[cfg_attr(
    not(pg_tests),
    ignore = "needs PostgreSQL: set WANGGE_TEST_POSTGRES_URL"
)]
fn a_claimed_timer_goes_to_another_server_only_when_its_lease_runs_out() {
    use wangge_store::TimerQueue;
    let a = fresh("leases");
    let mut options = crate::PgOptions::new(a.schema());
    options.lease = Duration::from_secs(1);
    let short = PgStore::connect_with(&url(), options).unwrap();
    let other = second(&a, Duration::from_secs(30));
    wangge_store::conformance::fill(&short, 3).unwrap();
    let later = 4_000_000_000;
    assert_eq!(
        short.due(later, 10).unwrap().len(),
        3,
        "claimed by the first"
    );
    assert!(
        other.due(later, 10).unwrap().is_empty(),
        "held: not the other's"
    );
    assert_eq!(
        short.due(later, 10).unwrap().len(),
        3,
        "its holder may take them again"
    );
    std::thread::sleep(Duration::from_millis(1300));
    let taken = other.due(later, 10).unwrap();
    assert_eq!(taken.len(), 3, "taken over once the lease ran out");
    let n = other
        .stats()
        .lease_takeovers
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(n, 3);
    assert!(short.due(later, 10).unwrap().is_empty(), "now the other's");
}
