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

/// An organisation of one street, 10 communities, 100 grids and
/// `micro_grids` micro grids (`M0000`, `M0001`, …), as the CSV `org import`
/// reads: the load benches register it, since a report must name a
/// registered unit.
pub fn units_csv(micro_grids: u64) -> String {
    let mut csv = String::from(
        "编号,名称,层级,上级,户数,农村,专属类型,党员数,现有组织数\nS1,街道,街道,,,,,,\n",
    );
    for c in 0..10 {
        csv.push_str(&format!("C{c},社区{c},社区,S1,,,,1,1\n"));
    }
    for g in 0..100 {
        csv.push_str(&format!(
            "G{g:03},网格{g},一般网格,C{},400,否,,1,1\n",
            g % 10
        ));
    }
    for m in 0..micro_grids {
        csv.push_str(&format!(
            "M{m:04},微网格{m},微网格,G{:03},40,否,,0,0\n",
            m % 100
        ));
    }
    csv
}
