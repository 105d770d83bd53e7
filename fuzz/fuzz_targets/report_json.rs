//! The JSON input of Report: any bytes as `data_json` of a report to the
//! shipped `事件处置` workflow, through the case service on the in-memory
//! store. A refusal is fine; a panic is not.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wangge_app::{CaseService, Report};
use wangge_policy::{ManualClock, PolicySet};
use wangge_store::MemStore;

fn policy() -> Option<&'static Arc<PolicySet>> {
    static SET: OnceLock<Option<Arc<PolicySet>>> = OnceLock::new();
    SET.get_or_init(|| wangge_testkit::fixtures::shipped().ok())
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(set) = policy() else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let svc = CaseService::new(
        Arc::new(MemStore::new()),
        set.clone(),
        Arc::new(ManualClock::new(1_789_000_000_000)),
    );
    let _ = svc.report(Report {
        workflow: "事件处置".into(),
        unit: Some("G1".into()),
        data: value,
        idempotency_key: None,
        actor: "fuzz".into(),
    });
});
