//! Tests that need a PostgreSQL server run only when
//! `WANGGE_TEST_POSTGRES_URL` is set at build time; otherwise they are
//! marked ignored with a message naming the variable (`cfg(pg_tests)`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo:rerun-if-env-changed=WANGGE_TEST_POSTGRES_URL");
    if std::env::var_os("WANGGE_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=pg_tests");
    }
}
