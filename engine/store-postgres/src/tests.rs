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
