//! A `wangge serve` process for tests: ephemeral ports, manual clock,
//! its own data folder; stopped with SIGTERM (or killed) on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tonic::transport::Channel;

pub struct Server {
    child: Option<Child>,
    pub grpc: String,
    pub metrics: String,
    /// The console's `host:port` (empty when started with `--console-listen off`).
    pub console: String,
}

pub const START: &str = "2026-09-14T10:00:00+08:00";

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let server = Self::start_bare(data, extra);
        server.import_units();
        server
    }

    /// A server on `data` with `extra` flags, its registry left empty.
    pub fn start_bare(data: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--clock",
            "manual",
            "--clock-start",
            START,
            "--log",
            "warn",
            "--data",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(data.display().to_string());
        if !extra.contains(&"--console-listen") {
            args.extend(["--console-listen", "127.0.0.1:0"].map(String::from));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(&args, &crate::util::root())
    }

    /// `wangge ARGS` in `dir`, once it says where it listens.
    pub fn spawn(args: &[String], dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wangge"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wangge serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut grpc, mut metrics, mut console) = (String::new(), String::new(), String::new());
        while grpc.is_empty() {
            let line = lines.next().expect("server exited early").expect("read");
            if let Some(rest) = line
                .strip_prefix("wangge console on http://")
                .or_else(|| line.strip_prefix("wangge console on https://"))
            {
                console = rest.trim_end_matches('/').to_string();
            }
            if let Some(rest) = line.strip_prefix("wangge metrics on http://") {
                metrics = rest.trim_end_matches("/metrics").to_string();
            }
            if let Some(rest) = line.strip_prefix("wangge listening on ") {
                grpc = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child: Some(child),
            grpc,
            metrics,
            console,
        }
    }

    /// Registers the example organisation (reports need a registered unit).
    fn import_units(&self) {
        let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
            .args(["org", "import", "examples/org/units.csv", "--server"])
            .arg(format!("http://{}", self.grpc))
            .current_dir(crate::util::root())
            .output()
            .expect("run wangge org import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// SIGKILL (kill -9), then wait: a crash, with no shutdown.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then wait: returns the exit code.
    pub fn stop(mut self) -> i32 {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap().code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Safe defaults: a server bound beyond loopback without TLS and
/// authentication is refused at start; `--insecure-no-auth` serves it and
/// warns (every minute).
#[test]
fn an_exposed_address_without_tls_and_auth_is_refused_unless_insecure() {
    use std::io::Read;
    let data = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wangge"));
        cmd.args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--metrics-listen",
            "off",
            "--console-listen",
            "off",
            "--clock",
            "manual",
            "--clock-start",
            START,
            "--data",
        ])
        .arg(data.path())
        .args(extra)
        .env_remove("WANGGE_AUTH_HMAC_SECRET")
        .current_dir(crate::util::root());
        cmd
    };
    let refused = serve(&[]).output().expect("run wangge serve");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("needs TLS") && err.contains("--insecure-no-auth"),
        "{err}"
    );
    let mut child = serve(&["--insecure-no-auth"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wangge serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("wangge listening on ") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("--insecure-no-auth") && stderr.contains("without TLS"),
        "{stderr}"
    );
}
