//! The JSON input of Report: any bytes as `data_json`, through the strict
//! parser and the live input checks, into the shipped `事件处置` workflow on
//! the in-memory store (with its unit registered). A refusal is fine; a
//! panic is not.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wangge_app::{CaseService, Report};
use wangge_policy::{ManualClock, PolicySet, Unit};
use wangge_store::prelude::*;
use wangge_store::MemStore;

fn policy() -> Option<&'static Arc<PolicySet>> {
    static SET: OnceLock<Option<Arc<PolicySet>>> = OnceLock::new();
    SET.get_or_init(|| wangge_testkit::fixtures::shipped().ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(set) = policy() else { return };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = wangge_app::parse_object("data_json", text) else {
        return;
    };
    let store = Arc::new(MemStore::new());
    let unit = Unit {
        id: "M1".into(),
        name: "一号微网格".into(),
        level: "微网格".into(),
        parent: None,
        households: 60,
        rural: false,
        kind: None,
        party_members: 0,
        organizations: 0,
    };
    if store.put_units(&[unit]).is_err() {
        return;
    }
    let svc = CaseService::new(
        store,
        set.clone(),
        Arc::new(ManualClock::new(1_789_000_000)),
    )
    .checking_inputs();
    let _ = svc.report(Report {
        workflow: "事件处置".into(),
        unit: Some("M1".into()),
        data: value,
        idempotency_key: None,
        actor: "fuzz".into(),
    });
});
