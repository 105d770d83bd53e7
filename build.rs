//! Records the git revision the binary is built from (`wangge --version`,
//! the `wangge_build_info` metric). Outside a git checkout (a source
//! tarball) it is `unknown`, or `WANGGE_REVISION` when the packager sets it.

fn main() {
    // Tests that need PostgreSQL run when the variable is set at build
    // time, and are ignored naming it otherwise (`cfg(pg_tests)`).
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo:rerun-if-env-changed=WANGGE_TEST_POSTGRES_URL");
    if std::env::var_os("WANGGE_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=pg_tests");
    }
    // Browser tests run when chromedriver's path is set at build time
    // (`cfg(browser_tests)`); `.ci/run` installs Debian's and sets it.
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    println!("cargo:rerun-if-env-changed=WANGGE_TEST_CHROMEDRIVER");
    if std::env::var_os("WANGGE_TEST_CHROMEDRIVER").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=browser_tests");
    }
    println!("cargo:rerun-if-env-changed=WANGGE_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let revision = std::env::var("WANGGE_REVISION").ok().or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    });
    println!(
        "cargo:rustc-env=WANGGE_REVISION={}",
        revision.as_deref().unwrap_or("unknown")
    );
}
