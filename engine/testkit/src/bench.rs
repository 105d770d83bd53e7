//! What the bench binaries share: their command-line options and the
//! report categories they generate.

use std::str::FromStr;

/// Event categories of generated reports: every row of the shipped
/// `事件分级` gets some.
pub const CATEGORIES: &[&str] = &[
    "垃圾堆放",
    "占道经营",
    "噪音扰民",
    "物业纠纷",
    "邻里纠纷",
    "燃气安全",
    "设施损坏",
    "其他",
];

/// The value after `--name` on the command line, or `default` when it is
/// absent or does not parse.
pub fn arg<T: FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `--name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
