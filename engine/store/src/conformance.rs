//! The conformance suite: what every backend of the ports must do, checked
//! against the backend itself. A backend crate runs it with
//! [`crate::conformance_suite!`], giving a function that makes an empty
//! store; each check becomes one test named after what it guards.
//!
//! The cases are real: a small workflow compiled from policy text opens
//! and moves them, so the records have every field a server writes.

use std::sync::Arc;

use serde_json::json;
use wangge_dsl::{SourceFile, SourceSet};
use wangge_policy::{
    compile, Action, Actor, Case, Change, CompiledWorkflow, Person, PolicySet, RhaiHost, Timestamp,
    Unit,
};

use crate::error::{StoreError, StoreErrorKind};
use crate::facts::CaseFact;
use crate::ports::{Created, IdemRecord, Outcome, StateCounts, Store};

/// A check's verdict: `Err` says what the backend did wrong.
pub type Check = Result<(), String>;

const POLICY: &str = "
ladder 测层级 { 网格 -> 社区 }
workflow 测流程 on 测层级 {
  start 网格
  initial 上报
  final 结案
  transitions {
    受理: 上报 -> 处置
    办结: 处置 -> 结案
  }
  limit {
    上报: 1h 紧急工作时,
    处置: 2h 紧急工作时
  }
}
";

const T0: Timestamp = 1_790_000_000;

/// The workflow the checks drive.
struct Fixture {
    set: Arc<PolicySet>,
    wf: Arc<CompiledWorkflow>,
    who: Actor,
}

impl Fixture {
    fn new() -> Result<Fixture, String> {
        let mut sources = SourceSet::default();
        sources.add(SourceFile::new("测.wg".to_string(), POLICY));
        let compiled = compile(sources, &RhaiHost::default());
        let set = compiled.set.ok_or_else(|| {
            format!(
                "the fixture policy does not compile: {:?}",
                compiled.diagnostics
            )
        })?;
        let wf = set.workflow("测流程").map_err(|e| e.to_string())?.clone();
        Ok(Fixture {
            set: Arc::new(set),
            wf,
            who: Actor {
                on_behalf: None,
                actor: "conformance".into(),
                note: None,
            },
        })
    }

    fn open(&self, store: &dyn Store, at: Timestamp, unit: &str) -> Result<Change, String> {
        self.open_keyed(store, at, unit, None)
    }

    fn open_keyed(
        &self,
        store: &dyn Store,
        at: Timestamp,
        unit: &str,
        key: Option<&str>,
    ) -> Result<Change, String> {
        let id = store.next_id().map_err(s)?;
        self.wf
            .open(
                self.set.as_ref(),
                id,
                at,
                Some(unit.to_string()),
                json!({"说明": "测试"}),
                &self.who,
                key.map(str::to_string),
            )
            .map_err(|e| e.to_string())
    }

    fn act(&self, case: &Case, action: &str, at: Timestamp) -> Result<Change, String> {
        let a = Action::Transition {
            name: action.to_string(),
            outcome: None,
            assignee: None,
        };
        self.wf
            .act(case, &a, &self.who, at)
            .map_err(|e| e.to_string())
    }
}

fn s(e: StoreError) -> String {
    e.to_string()
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Creates `change` and waits until it is durable.
fn create(store: &dyn Store, change: Change, idem: Option<IdemRecord>) -> Result<Outcome, String> {
    store.create(change, idem).map_err(s)?.wait().map_err(s)
}

/// The record a case service writes: the workflow-scoped key and the
/// payload's SHA-256 (hex), here `digit` repeated.
fn idem(key: &str, digit: char, case_id: u64) -> IdemRecord {
    IdemRecord {
        key: format!("测流程\u{0}{key}"),
        hash: std::iter::repeat_n(digit, 64).collect(),
        case_id,
    }
}

/// A created case is stored with its event, its timer and its key, all
/// visible together.
pub fn create_stores_case_event_timer_and_key(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let change = f.open_keyed(store, T0, "G1", Some("k1"))?;
    let case = change.case.clone();
    let out = create(store, change, Some(idem("k1", 'a', case.id)))?;
    if !matches!(out, Outcome::Created(Created::New { .. })) {
        return Err(format!("outcome: got {out:?}, want a new case"));
    }
    same(
        "stored case",
        store.case(case.id).map_err(s)?,
        Some(case.clone()),
    )?;
    same("events", store.events(case.id).map_err(s)?.len(), 1)?;
    same("case count", store.case_count(), 1)?;
    same("timer count", store.timer_count(), 1)?;
    let due = store.due(T0 + 3600, 10).map_err(s)?;
    same(
        "due timers",
        due.iter().map(|t| t.case_id).collect::<Vec<_>>(),
        vec![case.id],
    )?;
    Ok(())
}

/// A key used again returns the first case and writes nothing; the payload
/// hash tells a retry from a different report.
pub fn idempotency_key_returns_the_first_case(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let first = f.open_keyed(store, T0, "G1", Some("k"))?;
    let first_id = first.case.id;
    create(store, first, Some(idem("k", 'a', first_id)))?;
    let retry = f.open_keyed(store, T0, "G1", Some("k"))?;
    let retry_id = retry.case.id;
    let out = create(store, retry, Some(idem("k", 'a', retry_id)))?;
    same(
        "retry",
        out,
        Outcome::Created(Created::Existing {
            case_id: first_id,
            same_payload: true,
        }),
    )?;
    let other = f.open_keyed(store, T0, "G1", Some("k"))?;
    let other_id = other.case.id;
    let out = create(store, other, Some(idem("k", 'b', other_id)))?;
    same(
        "different payload",
        out,
        Outcome::Created(Created::Existing {
            case_id: first_id,
            same_payload: false,
        }),
    )?;
    same("case count", store.case_count(), 1)?;
    same("retry stored", store.case(retry_id).map_err(s)?, None)?;
    same("timer count", store.timer_count(), 1)
}

/// An update replaces the case, appends its event and moves its timers in
/// one write.
pub fn update_moves_case_event_and_timers_together(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let change = f.open(store, T0, "G1")?;
    let before = change.case.clone();
    create(store, change, None)?;
    let next = f.act(&before, "受理", T0 + 60)?;
    let after = next.case.clone();
    store
        .update(&before, next, None)
        .map_err(s)?
        .wait()
        .map_err(s)?;
    same(
        "stored case",
        store.case(before.id).map_err(s)?,
        Some(after.clone()),
    )?;
    let events = store.events(before.id).map_err(s)?;
    same(
        "event states",
        events
            .iter()
            .map(|e| e.state_after.clone())
            .collect::<Vec<_>>(),
        vec!["上报".to_string(), "处置".to_string()],
    )?;
    same(
        "event seqs",
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 1],
    )?;
    let due = store.due(T0 + 10 * 3600, 10).map_err(s)?;
    same(
        "timers after the update",
        due.iter().map(|t| t.due).collect::<Vec<_>>(),
        after.deadlines.iter().map(|d| d.due).collect(),
    )?;
    same("timer count", store.timer_count(), 1)
}

/// An update from a version that is not the stored one is a conflict and
/// writes nothing.
pub fn stale_update_is_a_conflict(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let change = f.open(store, T0, "G1")?;
    let v1 = change.case.clone();
    create(store, change, None)?;
    let next = f.act(&v1, "受理", T0 + 60)?;
    let v2 = next.case.clone();
    store
        .update(&v1, next, None)
        .map_err(s)?
        .wait()
        .map_err(s)?;
    // A second writer still holding version 1.
    let late = f.act(&v1, "受理", T0 + 120)?;
    let kind = match store.update(&v1, late, None) {
        Ok(p) => p.wait().err().map(|e| e.kind()),
        Err(e) => Some(e.kind()),
    };
    same("stale update", kind, Some(StoreErrorKind::Conflict))?;
    same("stored case", store.case(v1.id).map_err(s)?, Some(v2))?;
    same("events", store.events(v1.id).map_err(s)?.len(), 2)
}

/// Updating a case that was never stored is not found.
pub fn update_of_a_missing_case_is_not_found(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let change = f.open(store, T0, "G1")?;
    let ghost = change.case.clone();
    let next = f.act(&ghost, "受理", T0 + 60)?;
    let kind = match store.update(&ghost, next, None) {
        Ok(p) => p.wait().err().map(|e| e.kind()),
        Err(e) => Some(e.kind()),
    };
    same("missing case", kind, Some(StoreErrorKind::NotFound))?;
    same("case count", store.case_count(), 0)
}

/// Timers come due in due order (not id order), at most `max` at a time,
/// and a fired or dropped timer never comes again.
pub fn timers_come_due_in_order_and_once(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let mut cases = Vec::new();
    // Opened at T0+2h, T0, T0+1h: due at +3h, +1h, +2h.
    for at in [T0 + 7200, T0, T0 + 3600] {
        let c = f.open(store, at, "G1")?;
        cases.push(c.case.clone());
        create(store, c, None)?;
    }
    let due = store.due(T0 + 4 * 3600, 10).map_err(s)?;
    same(
        "due order",
        due.iter().map(|t| t.case_id).collect::<Vec<_>>(),
        vec![cases[1].id, cases[2].id, cases[0].id],
    )?;
    same(
        "at most max",
        store.due(T0 + 4 * 3600, 2).map_err(s)?.len(),
        2,
    )?;
    same("none due yet", store.due(T0, 10).map_err(s)?.len(), 0)?;
    // Fire the first: it moves on to 处置 and its old timer goes.
    let first = &due[0];
    let fired_case = &cases[1];
    let next = f.act(fired_case, "受理", first.due)?;
    store
        .update(fired_case, next, Some(first.clone()))
        .map_err(s)?
        .wait()
        .map_err(s)?;
    // Drop the second's timer.
    store
        .drop_timer(due[1].clone())
        .map_err(s)?
        .wait()
        .map_err(s)?;
    let again = store.due(T0 + 4 * 3600, 10).map_err(s)?;
    if again.iter().any(|t| t == first || t == &due[1]) {
        return Err(format!(
            "a fired or dropped timer came due again: {again:?}"
        ));
    }
    same("remaining", again.len(), 2)
}

/// The change feed numbers durable events in commit order, and a reader
/// resumes from any sequence it has seen.
pub fn feed_is_ordered_and_resumable(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let start = store.feed().next_sequence();
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = f.open(store, T0 + i, "G1")?;
        ids.push(c.case.id);
        create(store, c, None)?;
    }
    same("next sequence", store.feed().next_sequence(), start + 5)?;
    let all = store
        .feed()
        .read(start, 100, std::time::Duration::ZERO)
        .map_err(|e| e.to_string())?;
    same(
        "sequences",
        all.iter().map(|(q, _)| *q).collect::<Vec<_>>(),
        (start..start + 5).collect(),
    )?;
    same(
        "cases in order",
        all.iter().map(|(_, e)| e.case_id).collect::<Vec<_>>(),
        ids.clone(),
    )?;
    let rest = store
        .feed()
        .read(start + 3, 100, std::time::Duration::ZERO)
        .map_err(|e| e.to_string())?;
    same(
        "resumed",
        rest.iter().map(|(_, e)| e.case_id).collect::<Vec<_>>(),
        ids[3..].to_vec(),
    )
}

/// Opens `n` cases (with one action on every second one) and waits until
/// they are durable; returns their ids and the feed sequence of every
/// write. For a backend's own restart and damage tests.
pub fn fill(store: &dyn Store, n: usize) -> Result<(Vec<u64>, Vec<u64>), String> {
    let f = Fixture::new()?;
    let (mut ids, mut seqs) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = f.open(store, T0 + i as i64, "G1")?;
        let before = c.case.clone();
        ids.push(before.id);
        seqs.extend(create(store, c, None)?.sequence());
        if i % 2 == 0 {
            let next = f.act(&before, "受理", T0 + 100)?;
            let out = store
                .update(&before, next, None)
                .map_err(s)?
                .wait()
                .map_err(s)?;
            seqs.extend(out.sequence());
        }
    }
    Ok((ids, seqs))
}

/// Case ids follow one another without gaps.
pub fn case_ids_are_dense(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let a = f.open(store, T0, "G1")?;
    let first = a.case.id;
    create(store, a, None)?;
    let b = f.open(store, T0, "G1")?;
    same("second id", b.case.id, first + 1)?;
    create(store, b, None)?;
    same("third id", store.next_id().map_err(s)?, first + 2)
}

/// Every write returns its event's feed sequence, and the stored history
/// gives the same events under the same sequences as the live feed.
pub fn feed_history_matches_the_sequences_writes_return(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let mut got = Vec::new();
    let c = f.open(store, T0, "G1")?;
    let before = c.case.clone();
    let out = create(store, c, None)?;
    got.push((out.sequence(), before.id, 0));
    let next = f.act(&before, "受理", T0 + 10)?;
    let out = store
        .update(&before, next, None)
        .map_err(s)?
        .wait()
        .map_err(s)?;
    got.push((out.sequence(), before.id, 1));
    let first = got[0].0.ok_or("a create returned no sequence")?;
    same("consecutive", got[1].0, Some(first + 1))?;
    let history = store.history(first, 10).map_err(s)?;
    same(
        "history",
        history
            .iter()
            .map(|(q, e)| (Some(*q), e.case_id, e.seq))
            .collect::<Vec<_>>(),
        got,
    )?;
    same(
        "history from the end",
        store.history(first + 2, 10).map_err(s)?.len(),
        0,
    )
}

/// The counters by (workflow, state) agree with the stored cases after
/// creates and updates.
pub fn state_counts_follow_the_cases(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let mut cases = Vec::new();
    for i in 0..3 {
        let c = f.open(store, T0 + i, "G1")?;
        cases.push(c.case.clone());
        create(store, c, None)?;
    }
    let next = f.act(&cases[0], "受理", T0 + 100)?;
    let after = next.case.state.clone();
    store
        .update(&cases[0], next, None)
        .map_err(s)?
        .wait()
        .map_err(s)?;
    let mut want = StateCounts::new();
    let mut all = Vec::new();
    store
        .scan_cases(&mut |c| {
            all.push(c);
            true
        })
        .map_err(s)?;
    for c in &all {
        *want
            .entry((c.workflow.clone(), c.state.clone()))
            .or_insert(0) += 1;
    }
    same("counts", store.state_counts().map_err(s)?, want.clone())?;
    same(
        "after the action",
        want.get(&("测流程".to_string(), after)).copied(),
        Some(1),
    )
}

/// Settings read back as written, replaced by name.
pub fn settings_round_trip(store: &dyn Store) -> Check {
    same("unset", store.setting("测试").map_err(s)?, None)?;
    store.put_setting("测试", b"one").map_err(s)?;
    store.put_setting("测试", b"two").map_err(s)?;
    same(
        "replaced",
        store.setting("测试").map_err(s)?,
        Some(b"two".to_vec()),
    )
}

/// A guarded ledger write lands only over the value the writer read
/// (absent or not), and writes nothing otherwise.
pub fn ledger_swap_writes_only_over_the_value_read(store: &dyn Store) -> Check {
    let pair = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
    let wrote = store
        .ledger_swap(b"g", None, vec![pair(b"g", b"1"), pair(b"x", b"a")])
        .map_err(s)?;
    same("claimed while absent", wrote, true)?;
    let wrote = store
        .ledger_swap(b"g", None, vec![pair(b"g", b"9"), pair(b"x", b"z")])
        .map_err(s)?;
    same("absent no more", wrote, false)?;
    let wrote = store
        .ledger_swap(b"g", Some(b"0"), vec![pair(b"g", b"9")])
        .map_err(s)?;
    same("another value", wrote, false)?;
    let wrote = store
        .ledger_swap(b"g", Some(b"1"), vec![pair(b"g", b"2"), pair(b"x", b"b")])
        .map_err(s)?;
    same("over the value read", wrote, true)?;
    store.flush().map_err(s)?;
    same(
        "guard",
        store.ledger_get(b"g").map_err(s)?,
        Some(b"2".to_vec()),
    )?;
    same(
        "the rest",
        store.ledger_get(b"x").map_err(s)?,
        Some(b"b".to_vec()),
    )
}

/// The facts of every case in a range agree with the stored cases.
pub fn case_facts_agree_with_cases(store: &dyn Store) -> Check {
    let f = Fixture::new()?;
    let mut stored = Vec::new();
    for (i, unit) in ["G1", "G2", "G3"].iter().enumerate() {
        let c = f.open(store, T0 + i as i64, unit)?;
        let before = c.case.clone();
        create(store, c, None)?;
        let next = f.act(&before, "受理", T0 + 100)?;
        stored.push(next.case.clone());
        store
            .update(&before, next, None)
            .map_err(s)?
            .wait()
            .map_err(s)?;
    }
    let mut seen = Vec::new();
    store
        .scan_facts(stored[1].id, u64::MAX, &mut |fact| {
            seen.push(format!("{fact:?}"));
            true
        })
        .map_err(s)?;
    let want: Vec<String> = stored[1..]
        .iter()
        .map(|c| format!("{:?}", CaseFact::of(c)))
        .collect();
    same("facts", seen, want)
}

/// Units, people, policy bundles and ledger pairs read back as written;
/// the ledger scans a prefix in key order.
pub fn records_round_trip(store: &dyn Store) -> Check {
    let unit = Unit {
        id: "G1".into(),
        name: "一网格".into(),
        level: "网格".into(),
        parent: Some("S1".into()),
        households: 420,
        rural: false,
        kind: None,
        party_members: 3,
        organizations: 1,
        probationary_members: 0,
        ladder: None,
    };
    store.put_units(std::slice::from_ref(&unit)).map_err(s)?;
    same("units", store.units().map_err(s)?, vec![unit])?;
    same("has G1", store.has_unit("G1").map_err(s)?, true)?;
    same("has G9", store.has_unit("G9").map_err(s)?, false)?;
    same(
        "unit G1",
        store.unit("G1").map_err(s)?.map(|u| u.id),
        Some("G1".to_string()),
    )?;
    same("unit G9", store.unit("G9").map_err(s)?, None)?;
    let person = Person {
        id: "P1".into(),
        name: "张三".into(),
        role: "微网格员".into(),
        unit: Some("G1".into()),
        party_member: true,
        probationary: false,
        also: Vec::new(),
    };
    store.put_people(std::slice::from_ref(&person)).map_err(s)?;
    same(
        "person",
        store.person(&person.id).map_err(s)?,
        Some(person.clone()),
    )?;
    same("no person", store.person("nobody").map_err(s)?, None)?;
    same("people", store.people().map_err(s)?, vec![person])?;
    store.put_policy("abc", b"bundle").map_err(s)?;
    same(
        "policies",
        store.policies().map_err(s)?,
        vec![("abc".to_string(), b"bundle".to_vec())],
    )?;
    store
        .ledger_put(vec![
            (b"p\0b".to_vec(), b"2".to_vec()),
            (b"p\0a".to_vec(), b"1".to_vec()),
            (b"q\0a".to_vec(), b"3".to_vec()),
        ])
        .map_err(s)?;
    same(
        "ledger get",
        store.ledger_get(b"p\0a").map_err(s)?,
        Some(b"1".to_vec()),
    )?;
    same("ledger miss", store.ledger_get(b"p\0c").map_err(s)?, None)?;
    let mut scanned = Vec::new();
    store
        .ledger_scan(b"p\0", &mut |k, v| {
            scanned.push((k.to_vec(), v.to_vec()));
            true
        })
        .map_err(s)?;
    same(
        "ledger scan",
        scanned,
        vec![
            (b"p\0a".to_vec(), b"1".to_vec()),
            (b"p\0b".to_vec(), b"2".to_vec()),
        ],
    )
}

/// Runs every check as its own `#[test]`, on a fresh store from `$make`
/// (an expression returning something that derefs to a [`Store`]).
#[macro_export]
macro_rules! conformance_suite {
    (@tests $attrs:tt $make:expr; $($check:ident),* $(,)?) => {
        $( $crate::conformance_suite!(@one $attrs $make; $check); )*
    };
    (@one [$($attr:tt)*] $make:expr; $check:ident) => {
        #[test]
        $($attr)*
        fn $check() {
            let store = $make;
            if let Err(e) = $crate::conformance::$check(&*store) {
                panic!("{}: {e}", stringify!($check));
            }
        }
    };
    // `conformance_suite!(attrs [#[ignore = "…"]] make())`: the attributes
    // go on every test.
    (attrs $attrs:tt $make:expr) => {
        $crate::conformance_suite!(@tests $attrs $make;
            create_stores_case_event_timer_and_key,
            idempotency_key_returns_the_first_case,
            update_moves_case_event_and_timers_together,
            stale_update_is_a_conflict,
            update_of_a_missing_case_is_not_found,
            timers_come_due_in_order_and_once,
            feed_is_ordered_and_resumable,
            case_ids_are_dense,
            feed_history_matches_the_sequences_writes_return,
            settings_round_trip,
            ledger_swap_writes_only_over_the_value_read,
            state_counts_follow_the_cases,
            case_facts_agree_with_cases,
            records_round_trip,
        );
    };
    ($make:expr) => {
        $crate::conformance_suite!(attrs [] $make);
    };
}
