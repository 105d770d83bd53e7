//! Organisation registry: imports with line-numbered validation, and the
//! organisation policies run over the registry.

use serde_json::json;

use wangge_app::org::{
    read_rows, report, validate_people, validate_units, ImportError, Person, Registry, Unit,
};
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

fn ladder() -> Vec<(String, Vec<String>)> {
    vec![(
        "城市网格".to_string(),
        ["微网格", "一般网格", "社区", "街道", "职能部门"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )]
}

const GOOD: &str = "\
编号,名称,层级,上级,户数,农村,专属类型,党员数,现有组织数
S1,锦江街道,街道,,,,,,
C1,和平社区,社区,S1,,,,,
G1,和平一网格,一般网格,C1,420,否,,4,0
G2,和平二网格,一般网格,C1,520,否,,1,2
M1,和平一网格1号微网格,微网格,G1,60,否,,0,1
M2,河湾微网格,微网格,G1,12,是,,,
X1,和平小学,一般网格,C1,0,否,学校,2,1
";

fn import(text: &str) -> Result<Vec<Unit>, wangge_app::org::ImportError> {
    let rows = read_rows(text, "units.csv")?;
    validate_units(&rows, &ladder(), &[], "units.csv")
}

#[test]
fn csv_import_accepts_a_consistent_registry() {
    let units = import(GOOD).unwrap();
    assert_eq!(units.len(), 7);
    assert_eq!(units[2].households, 420);
    assert!(units[5].rural);
    assert_eq!(units[6].kind.as_deref(), Some("学校"));
    let store = SledStore::temporary().unwrap();
    store.put_units(&units).unwrap();
    assert_eq!(store.units().unwrap().len(), 7);
}

#[test]
fn csv_errors_name_every_bad_line() {
    let bad = "\
编号,名称,层级,上级,户数
S1,锦江街道,街道,,
C1,和平社区,社区,S9,
G1,一网格,一般网络,C1,400
M1,微网格甲,微网格,M1,50
G2,二网格,一般网格,C1,很多
S1,重复,街道,,
";
    let err = import(bad).unwrap_err();
    let lines: Vec<(usize, &str)> = err
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (3, "unknown parent `S9`; did you mean `S1`?"),
            (
                4,
                "level `一般网络` is not on the ladder; did you mean `一般网格`?"
            ),
            (
                5,
                "parent `M1` is at `微网格`, which is not above `微网格` on any ladder"
            ),
            (5, "unit `M1` is its own ancestor"),
            (6, "`households` must be a whole number ≥ 0, not `很多`"),
            (7, "unit `S1` appears twice (first on line 2)"),
        ]
    );
    assert!(err.to_string().contains("units.csv:3: unknown parent `S9`"));
}

#[test]
fn json_arrays_and_lines_carry_line_numbers() {
    let text = "[\n  {\"id\": \"S1\", \"name\": \"街道\", \"level\": \"街道\"},\n  {\"id\": \"C1\", \"name\": \"社区\", \"level\": \"社区\", \"parent\": \"S0\"}\n]";
    let rows = read_rows(text, "u.json").unwrap();
    let err = validate_units(&rows, &ladder(), &[], "u.json").unwrap_err();
    assert_eq!(err.errors[0].line, 3);
    let lines = "{\"编号\": \"S1\", \"名称\": \"街道\", \"层级\": \"街道\"}\n{\"编号\": \"C1\", \"名称\": \"社区\", \"层级\": \"社区\", \"上级\": \"S1\"}\n";
    let units = validate_units(
        &read_rows(lines, "u.jsonl").unwrap(),
        &ladder(),
        &[],
        "u.jsonl",
    )
    .unwrap();
    assert_eq!(units[1].parent.as_deref(), Some("S1"));
    // Units already registered count as parents.
    let more = "{\"编号\": \"G1\", \"名称\": \"网格\", \"层级\": \"一般网格\", \"上级\": \"C1\"}\n";
    assert!(validate_units(
        &read_rows(more, "m.jsonl").unwrap(),
        &ladder(),
        &units,
        "m.jsonl"
    )
    .is_ok());
}

/// People rows validated against `units` and the shipped policy's roles,
/// with `existing` people already registered.
fn people(text: &str, units: &[Unit], existing: &[Person]) -> Result<Vec<Person>, ImportError> {
    let set = crate::fixtures::shipped().unwrap();
    let registry = Registry {
        units,
        people: existing,
    };
    validate_people(&read_rows(text, "p.csv")?, &registry, &set.roles, "p.csv")
}

#[test]
fn people_are_validated_against_the_roles_the_policy_declares() {
    let units = import(GOOD).unwrap();
    let text = "编号,姓名,角色,所属网格,党员\n\
        P1,王芳,专职网格员,G1,是\n\
        P2,李强,网格长,G1,是\n\
        P3,赵敏,微网格员,G9,否\n\
        P4,钱峰,埭长,M1,否\n\
        P5,孙丽,网格长,G2,否\n\
        P6,周勇,网格长,M1,是\n\
        P7,吴刚,微网格员,,否\n";
    let err = people(text, &units, &[]).unwrap_err();
    let got: Vec<(usize, &str)> = err
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (4, "unknown unit `G9`; did you mean `G1`?"),
            (5, "unknown role `埭长`; known names: `专属网格党组织书记`, `专职网格员`, `党员`, `党小组长`, `在职党员`, `微网格员`, `微网格长`, `志愿者`, …"),
            (6, "role `网格长` requires a 党员; `P5` is 群众"),
            (7, "role `网格长` sits at 一般网格, but unit `M1` is at `微网格`"),
            (8, "role `微网格员` sits at 微网格: name the unit"),
        ]
    );
    // 网格长 is a declared role now: P2 alone is accepted.
    assert!(people(
        "编号,姓名,角色,所属网格,党员\nP2,李强,网格长,G1,是\n",
        &units,
        &[]
    )
    .is_ok());
}

#[test]
fn a_person_may_hold_several_positions_in_several_units() {
    let units = import(GOOD).unwrap();
    let text = "编号,姓名,角色,所属网格,党员\n\
        P1,陈静,社区书记,C1,正式\n\
        P1,陈静,总网格长,C1,正式\n\
        P1,陈静,网格长,G1,正式\n";
    let got = people(text, &units, &[]).unwrap();
    assert_eq!(got.len(), 1);
    let p = &got[0];
    assert_eq!(p.role, "社区书记");
    assert!(p.holds("总网格长") && p.holds("网格长") && p.serves("G1"));
    assert_eq!(p.also.len(), 2);
    // The rows of one person agree on who they are, and hold a position once.
    let bad = "编号,姓名,角色,所属网格,党员\n\
        P1,陈静,社区书记,C1,正式\n\
        P1,陈晶,总网格长,C1,正式\n\
        P1,陈静,社区书记,C1,正式\n";
    let err = people(bad, &units, &[]).unwrap_err();
    let got: Vec<(usize, &str)> = err
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                3,
                "person `P1` differs from line 2 in name or party membership"
            ),
            (4, "person `P1` already holds `社区书记` there (line 2)"),
        ]
    );
}

#[test]
fn a_role_that_leads_its_unit_has_one_holder() {
    let units = import(GOOD).unwrap();
    let two = "编号,姓名,角色,所属网格,党员\nP1,王芳,网格长,G1,是\nP2,李强,网格长,G1,是\n";
    let err = people(two, &units, &[]).unwrap_err();
    assert_eq!(
        err.errors[0].message,
        "`G1` already has a 网格长 (`P1`); a 网格长 leads the unit alone"
    );
    // Counting people already registered, unless the import replaces them.
    let first = people(
        "编号,姓名,角色,所属网格,党员\nP1,王芳,网格长,G1,是\n",
        &units,
        &[],
    )
    .unwrap();
    let second = "编号,姓名,角色,所属网格,党员\nP2,李强,网格长,G1,是\n";
    assert_eq!(people(second, &units, &first).unwrap_err().errors.len(), 1);
    let moved = "编号,姓名,角色,所属网格,党员\nP1,王芳,网格长,G2,是\nP2,李强,网格长,G1,是\n";
    assert!(people(moved, &units, &first).is_ok());
    // Roles that do not lead have many holders.
    let many = "编号,姓名,角色,所属网格,党员\nP1,王芳,微网格员,M1,否\nP2,李强,微网格员,M1,否\n";
    assert!(people(many, &units, &[]).is_ok());
}

#[test]
fn a_probationary_member_does_not_hold_a_role_for_full_members() {
    let units = import(GOOD).unwrap();
    let text = "编号,姓名,角色,所属网格,党员\nP1,陈静,社区书记,C1,预备\nP2,李强,总网格长,C1,预备\n";
    let err = people(text, &units, &[]).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(
        err.errors[0].message,
        "role `社区书记` requires a 正式党员; `P1` is 预备党员"
    );
}

#[test]
fn organisation_policies_run_over_the_registry() {
    let set = crate::fixtures::shipped().unwrap();
    let units = import(GOOD).unwrap();
    let rows = report(&set, &units, &["网格规模核查".into(), "三建一管".into()]).unwrap();
    let get = |unit: &str, item: &str| {
        rows.iter()
            .find(|r| r.unit == unit && r.item == item)
            .unwrap()
            .result
            .clone()
    };
    assert_eq!(get("G1", "网格规模核查")["结论"], json!("合格"));
    assert_eq!(get("G2", "网格规模核查")["结论"], json!("过大"));
    assert_eq!(get("M1", "网格规模核查")["结论"], json!("合格"));
    assert_eq!(
        get("M2", "网格规模核查")["结论"],
        json!("合格"),
        "rural micro grid ≥ 10"
    );
    assert_eq!(get("C1", "网格规模核查")["结论"], json!("不适用"));
    assert_eq!(
        get("X1", "网格规模核查")["结论"],
        json!("不适用"),
        "专属网格 are not sized by households"
    );
    assert_eq!(get("G1", "三建一管")["方式"], json!("单独建"));
    assert_eq!(get("G2", "三建一管")["方式"], json!("联合组建"));
    assert_eq!(get("M1", "三建一管")["方式"], json!("转化建"));
    assert_eq!(get("C1", "三建一管")["方式"], json!("选派党员管理"));
}

/// A town's 村 and 居民区 under one 镇 import together from one file (it
/// used to be "no ladder fits"), and each unit knows its ladder — a 格
/// under a 居 is on the 居民区 ladder though 格 is on both.
#[test]
fn a_towns_two_ladders_import_from_one_file_and_each_unit_knows_its_ladder() {
    let dir = crate::fixtures::policies_dir().join("../places/town");
    let files = wangge_app::read_dir(&dir).unwrap();
    let set = wangge_app::compile_files(&files, &wangge_policy::RhaiHost::default())
        .set
        .unwrap();
    let text = std::fs::read_to_string(dir.join("tests/名册.csv")).unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(wangge_store::MemStore::new());
    let org = wangge_app::Organisation::new(store.clone());
    let imported = org.import(&set, &text, "名册.csv", "").unwrap();
    assert_eq!(
        imported,
        wangge_app::Imported::Units(11, "农村网格, 居民区网格".into())
    );
    let ladder = |id: &str| {
        store
            .unit(id)
            .unwrap()
            .and_then(|u| u.ladder)
            .unwrap_or_default()
    };
    assert_eq!(ladder("VG1"), "农村网格");
    assert_eq!(ladder("JG1"), "居民区网格");
    assert_eq!(ladder("JL1"), "居民区网格");
    // 镇 is on both: no single ladder.
    assert_eq!(ladder("Z1"), "");
}
