//! Parse + compile of a policy set: any bytes, as one policy file, must
//! give a set or diagnostics — never a panic — and the diagnostics must
//! render; every item of a set that compiles is evaluated once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wangge_policy::RhaiHost;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let files = vec![("fuzz.wg".to_string(), text.to_string())];
    let compiled = wangge_app::compile_files(&files, &RhaiHost::default());
    let _ = wangge_dsl::render(&compiled.diagnostics, &compiled.sources, false);
    if let Some(set) = compiled.set {
        // Evaluate every item once with an empty input: errors are fine, panics are not.
        let names: Vec<String> = set.items().map(|(n, _)| n.to_string()).collect();
        for name in names {
            let _ = set.evaluate(&name, &serde_json::json!({}));
        }
    }
});
