//! The Python client example (`examples/python`) against a started server:
//! stubs generated from `proto/` by grpcio-tools, a report, an action and
//! the WatchCases stream. Runs when `WANGGE_TEST_PYTHON` names a Python
//! with `examples/python/requirements.txt` installed (`.ci/run` sets it).

use std::process::Command;

use crate::server::Server;
use crate::util::root;

#[test]
fn the_python_client_example_reports_and_follows_a_case() {
    let Some(python) = std::env::var_os("WANGGE_TEST_PYTHON") else {
        eprintln!(
            "skipped: set WANGGE_TEST_PYTHON to a python with \
             examples/python/requirements.txt installed (.ci/run does)"
        );
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = Command::new(python)
        .arg(root().join("examples/python/report_and_watch.py"))
        .args(["--server", &server.grpc])
        .output()
        .expect("run the Python example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("reported case 1: state 上报"),
        "{stdout}"
    );
    assert!(
        stdout.contains("#0 report") && stdout.contains("#1 立案"),
        "{stdout}"
    );
}
