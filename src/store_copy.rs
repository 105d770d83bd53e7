//! `wangge store copy --from sled:DIR --to postgres:URL`: moves a stopped
//! sled installation into an empty PostgreSQL schema — the registry,
//! policy versions, settings, every ledger (activity, settlements, points,
//! scores, audit, tasks, webhook cursors), then the cases with their
//! events, timers and idempotency keys, then the change feed in its order.
//! Case ids and feed sequences are kept, so clients resume where they
//! were; a retried report finds its case.

use std::path::Path;

use wangge_policy::Case;
use wangge_store::{
    CaseStore, ChangeFeed, IdemRecord, LedgerSpace, OrgRegistry, PolicyVersions, Settings,
};
use wangge_store_postgres::{ImportBatch, PgStore};
use wangge_store_sled::SledStore;

/// Cases (and feed rows) per import transaction.
const BATCH: usize = 2000;

/// The settings a server keeps (the active policy version, a manual clock).
const SETTINGS: [&str; 2] = ["active_policy", "manual_clock"];

/// What was copied.
#[derive(Debug, Default)]
struct Copied {
    units: usize,
    people: usize,
    policies: usize,
    ledger: usize,
    cases: usize,
    events: usize,
    keys: usize,
    feed: usize,
}

pub fn copy(from: &str, to: &str, schema: &str) -> Result<(), String> {
    let dir = from
        .strip_prefix("sled:")
        .ok_or_else(|| format!("`--from {from}`: expected `sled:DIR` (a stopped data folder)"))?;
    let url = to
        .strip_prefix("postgres:")
        .filter(|u| u.contains("://"))
        .unwrap_or(to);
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(format!(
            "`--to {to}`: expected `postgres:postgres://user@host:5432/db`"
        ));
    }
    if !Path::new(dir).is_dir() {
        return Err(format!("no data folder `{dir}`"));
    }
    let sled = SledStore::open(Path::new(dir), 64 << 20).map_err(|e| e.to_string())?;
    let pg = PgStore::connect(url, schema, std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    if !pg.is_empty().map_err(|e| e.to_string())? {
        return Err(format!(
            "schema `{schema}` already holds data: copy into a new or empty schema \
             (`--schema NAME`)"
        ));
    }
    let bar = crate::progress::spinner("copying");
    let copied = copy_all(&sled, &pg, &bar).map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!(
        "copied `{dir}` into schema `{schema}`: {} case(s) with {} event(s), {} idempotency \
         key(s), {} feed row(s); {} unit(s), {} person(s), {} policy version(s), {} ledger \
         record(s)",
        copied.cases,
        copied.events,
        copied.keys,
        copied.feed,
        copied.units,
        copied.people,
        copied.policies,
        copied.ledger
    );
    Ok(())
}

fn copy_all(
    sled: &SledStore,
    pg: &PgStore,
    bar: &indicatif::ProgressBar,
) -> Result<Copied, wangge_store::StoreError> {
    let mut n = Copied::default();
    let units = sled.units()?;
    n.units = units.len();
    pg.put_units(&units)?;
    let people = sled.people()?;
    n.people = people.len();
    pg.put_people(&people)?;
    for (hash, record) in sled.policies()? {
        pg.put_policy(&hash, &record)?;
        n.policies += 1;
    }
    for name in SETTINGS {
        if let Some(v) = sled.setting(name)? {
            pg.put_setting(name, &v)?;
        }
    }
    let mut pairs = Vec::new();
    sled.ledger_scan(b"", &mut |k, v| {
        pairs.push((k.to_vec(), v.to_vec()));
        true
    })?;
    n.ledger = pairs.len();
    for chunk in pairs.chunks(BATCH) {
        pg.ledger_put(chunk.to_vec())?;
    }
    let mut cases: Vec<Case> = Vec::with_capacity(BATCH);
    let mut failed = None;
    sled.scan_cases(&mut |c| {
        cases.push(c);
        if cases.len() == BATCH {
            if let Err(e) = import_cases(sled, pg, std::mem::take(&mut cases), &mut n) {
                failed = Some(e);
                return false;
            }
            bar.set_message(format!("copying: {} cases", n.cases));
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    import_cases(sled, pg, cases, &mut n)?;
    let mut from = 1;
    loop {
        let rows = sled.history(from, BATCH)?;
        let Some(last) = rows.last().map(|(q, _)| *q) else {
            break;
        };
        n.feed += rows.len();
        let feed = rows.iter().map(|(q, e)| (*q, e.case_id, e.seq)).collect();
        pg.import(ImportBatch {
            feed,
            ..ImportBatch::default()
        })?;
        from = last + 1;
    }
    pg.finish_import()?;
    Ok(n)
}

/// Imports `cases` with their events and idempotency keys.
fn import_cases(
    sled: &SledStore,
    pg: &PgStore,
    cases: Vec<Case>,
    n: &mut Copied,
) -> Result<(), wangge_store::StoreError> {
    let mut batch = ImportBatch::default();
    for c in &cases {
        batch.events.extend(sled.events(c.id)?);
        if let Some(k) = &c.idempotency_key {
            let key = format!("{}\u{0}{k}", c.workflow);
            if let Some((hash, case_id)) = sled.idempotency_prefix(&key)? {
                if case_id == c.id {
                    batch.keys.push(IdemRecord { key, hash, case_id });
                }
            }
        }
    }
    n.cases += cases.len();
    n.events += batch.events.len();
    n.keys += batch.keys.len();
    batch.cases = cases;
    pg.import(batch)
}
