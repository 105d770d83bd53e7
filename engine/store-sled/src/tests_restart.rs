//! What must survive a restart, and damage that must be refused at open
//! (regression tests of issue [2/10]).

use std::path::Path;

use wangge_store::conformance::fill;
use wangge_store::prelude::*;
use wangge_store::StoreErrorKind;

use crate::SledStore;

fn open(dir: &Path) -> Result<SledStore, wangge_store::StoreError> {
    SledStore::open(dir, 8 << 20)
}

#[test]
fn case_ids_stay_dense_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let (ids, _) = fill(&store, 3).unwrap();
    assert_eq!(ids, vec![1, 2, 3]);
    drop(store);
    let store = open(tmp.path()).unwrap();
    let (ids, _) = fill(&store, 2).unwrap();
    assert_eq!(ids, vec![4, 5], "ids continue where they stopped");
}

#[test]
fn the_change_feed_resumes_from_before_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    let (_, seqs) = fill(&store, 4).unwrap();
    drop(store);
    let store = open(tmp.path()).unwrap();
    let from = seqs[1];
    let history = store.history(from, 100).unwrap();
    assert_eq!(
        history.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        seqs[1..].to_vec()
    );
    assert_eq!(store.feed().next_sequence(), seqs[seqs.len() - 1] + 1);
}

#[test]
fn settings_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    store.put_setting("active_policy", b"abc").unwrap();
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(
        store.setting("active_policy").unwrap(),
        Some(b"abc".to_vec())
    );
}

/// Fills a store with `n` cases, closes it and damages its `db` file.
fn damaged(n: usize, damage: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    fill(&store, n).unwrap();
    drop(store);
    damage(&tmp.path().join("db"));
    let err = match open(tmp.path()) {
        Ok(s) => panic!(
            "a damaged store opened with {} of {n} cases",
            s.case_count()
        ),
        Err(e) => e,
    };
    assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
    (tmp, err.to_string())
}

#[test]
fn a_truncated_store_is_refused_at_open() {
    let (tmp, msg) = damaged(300, |db| {
        let len = std::fs::metadata(db).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
        f.set_len(len / 2).unwrap();
    });
    assert!(
        msg.contains(&tmp.path().join("db").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("wangge store restore"), "{msg}");
}

#[test]
fn an_emptied_store_is_refused_at_open() {
    let (_tmp, msg) = damaged(20, |db| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(db)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
    assert!(msg.contains("lost acknowledged data"), "{msg}");
}

#[test]
fn random_bytes_in_the_store_are_refused_without_a_panic() {
    let (_tmp, msg) = damaged(20, |db| {
        let len = std::fs::metadata(db).unwrap().len() as usize;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(db, bytes).unwrap();
    });
    assert!(msg.contains("db"), "{msg}");
}

#[test]
fn verify_finds_a_missing_timer_and_a_bad_record() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    fill(&store, 4).unwrap();
    let clean = store.verify().unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!(clean.cases, 4);
    // Damage: drop one timer, garble one case record.
    let timer = store
        .data
        .scan_prefix([crate::TIMER])
        .next()
        .unwrap()
        .unwrap()
        .0;
    store.data.remove(timer).unwrap();
    store
        .data
        .insert(crate::case_key(4), &b"\x01garbage"[..])
        .unwrap();
    let found = store.verify().unwrap();
    let all = found.problems.join("\n");
    assert!(
        all.contains("have no timer") || all.contains("belong to no deadline"),
        "{all}"
    );
    assert!(all.contains("record `630000000000000004`"), "{all}");
}

#[test]
fn state_counters_survive_a_restart_and_an_old_store_is_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    fill(&store, 5).unwrap();
    let counts = store.state_counts().unwrap();
    assert_eq!(counts.values().sum::<u64>(), 5, "{counts:?}");
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(store.state_counts().unwrap(), counts);
    // A store from before the counters: no counter keys, no flag.
    let keys: Vec<_> = store
        .data
        .scan_prefix(crate::COUNT_PREFIX)
        .map(|kv| kv.unwrap().0)
        .collect();
    for k in keys {
        store.data.remove(k).unwrap();
    }
    store.data.remove(crate::META_COUNTED).unwrap();
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(store.state_counts().unwrap(), counts);
    assert!(store.verify().unwrap().problems.is_empty());
}

fn unit(id: &str, name: &str) -> wangge_policy::Unit {
    wangge_policy::Unit {
        id: id.into(),
        name: name.into(),
        level: "微网格".into(),
        parent: None,
        households: 30,
        rural: false,
        kind: None,
        party_members: 0,
        organizations: 0,
        probationary_members: 0,
        ladder: None,
    }
}

#[test]
fn the_registries_kept_in_memory_are_what_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).unwrap();
    store
        .put_units(&[unit("WG-2", "二"), unit("WG-1", "一")])
        .unwrap();
    store
        .put_units(&[unit("WG-1", "一（改名）"), unit("WG-3", "三")])
        .unwrap();
    let person = |id: &str, role: &str| wangge_policy::Person {
        id: id.into(),
        name: id.into(),
        role: role.into(),
        unit: Some("WG-1".into()),
        party_member: false,
        probationary: false,
        also: Vec::new(),
    };
    store.put_people(&[person("p2", "网格员")]).unwrap();
    let before = store.people().unwrap();
    store
        .put_people(&[person("p1", "网格员"), person("p2", "网格长")])
        .unwrap();
    assert_eq!(before.len(), 1);
    let (units, people) = (store.units().unwrap(), store.people().unwrap());
    let names: Vec<(&str, &str)> = units
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [("WG-1", "一（改名）"), ("WG-2", "二"), ("WG-3", "三")]
    );
    drop(store);
    let store = open(tmp.path()).unwrap();
    assert_eq!(
        store.units().unwrap(),
        units,
        "the cache is what a restart reads"
    );
    assert_eq!(store.people().unwrap(), people);
    assert_eq!(people[1].role, "网格长");
}
