//! Importing the organisation registry: units and people from CSV or JSON,
//! every row validated against the ladder and the existing registry, every
//! problem reported with its line; an import with any problem writes
//! nothing. Also runs organisation policies over units.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use wangge_dsl::suggest::{help_for, help_suffix};
pub use wangge_policy::org::{PartyTree, Person, Position, RoleDef, Unit, UNIT_KINDS};
use wangge_policy::{EvalError, PolicySet};

/// One problem in one row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// Why an import was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("`{file}` was not imported: {} problem(s)\n{}", errors.len(), errors.iter().map(|e| format!("  {}:{}: {}", file, e.line, e.message)).collect::<Vec<_>>().join("\n"))]
#[diagnostic(
    code(wangge::org::import),
    help("fix every listed row; an import is all or nothing")
)]
pub struct ImportError {
    pub file: String,
    pub errors: Vec<RowError>,
}

/// A row as read: field name → text, with its line.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub line: usize,
    pub fields: HashMap<String, String>,
}

/// Field names accepted for each column (English or Chinese).
const ALIASES: &[(&str, &[&str])] = &[
    ("id", &["id", "编号"]),
    ("name", &["name", "名称", "姓名"]),
    ("level", &["level", "层级", "类型"]),
    ("parent", &["parent", "上级"]),
    ("households", &["households", "户数"]),
    ("rural", &["rural", "农村"]),
    ("kind", &["kind", "专属类型"]),
    ("party_members", &["party_members", "正式党员数", "党员数"]),
    (
        "probationary_members",
        &["probationary_members", "预备党员数"],
    ),
    ("organizations", &["organizations", "现有组织数", "组织数"]),
    ("role", &["role", "角色"]),
    ("unit", &["unit", "所属网格", "网格"]),
    ("party_member", &["party_member", "党员"]),
];

fn canonical(name: &str) -> String {
    let name = name.trim();
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map_or_else(|| name.to_string(), |(c, _)| (*c).to_string())
}

/// Reads CSV (with a header row) or JSON (an array of objects, or one
/// object per line) into raw rows.
pub fn read_rows(text: &str, file: &str) -> Result<Vec<RawRow>, ImportError> {
    let err = |line: usize, message: String| ImportError {
        file: file.to_string(),
        errors: vec![RowError { line, message }],
    };
    let trimmed = text.trim_start();
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let object_row = |v: &Value, line: usize| -> Result<RawRow, ImportError> {
        let Value::Object(m) = v else {
            return Err(err(line, "expected a JSON object".into()));
        };
        let fields = m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (canonical(k), text)
            })
            .collect();
        Ok(RawRow { line, fields })
    };
    if trimmed.starts_with('[') {
        let raws: Vec<&serde_json::value::RawValue> = serde_json::from_str(text)
            .map_err(|e| err(e.line(), format!("not valid JSON: {e}")))?;
        let base = text.as_ptr() as usize;
        let mut rows = Vec::with_capacity(raws.len());
        for raw in raws {
            let line = line_of((raw.get().as_ptr() as usize).saturating_sub(base));
            let v: Value = serde_json::from_str(raw.get()).map_err(|e| err(line, e.to_string()))?;
            rows.push(object_row(&v, line)?);
        }
        return Ok(rows);
    }
    if trimmed.starts_with('{') {
        let mut rows = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            let v: Value =
                serde_json::from_str(l).map_err(|e| err(i + 1, format!("not valid JSON: {e}")))?;
            rows.push(object_row(&v, i + 1)?);
        }
        return Ok(rows);
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| err(1, format!("cannot read the header row: {e}")))?
        .iter()
        .map(canonical)
        .collect();
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec =
            rec.map_err(|e| err(e.position().map_or(0, |p| p.line() as usize), e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let fields = headers
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        rows.push(RawRow { line, fields });
    }
    Ok(rows)
}

struct RowReader<'a> {
    row: &'a RawRow,
    errors: &'a mut Vec<RowError>,
}

impl RowReader<'_> {
    fn text(&self, field: &str) -> Option<String> {
        self.row
            .fields
            .get(field)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    fn required(&mut self, field: &str) -> String {
        match self.text(field) {
            Some(s) => s,
            None => {
                self.errors.push(RowError {
                    line: self.row.line,
                    message: format!("`{field}` is missing"),
                });
                String::new()
            }
        }
    }

    fn int(&mut self, field: &str) -> i64 {
        match self.text(field) {
            None => 0,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if n >= 0 => n,
                _ => {
                    self.errors.push(RowError {
                        line: self.row.line,
                        message: format!("`{field}` must be a whole number ≥ 0, not `{s}`"),
                    });
                    0
                }
            },
        }
    }

    /// Party membership: 是/正式 (full), 预备 (probationary) or 否.
    fn party(&mut self, field: &str) -> (bool, bool) {
        match self.text(field).as_deref() {
            Some("预备" | "预备党员" | "probationary") => (true, true),
            Some("正式" | "正式党员" | "full") => (true, false),
            _ => (self.bool(field), false),
        }
    }

    fn bool(&mut self, field: &str) -> bool {
        match self.text(field).as_deref() {
            None | Some("否" | "false" | "0" | "no" | "N") => false,
            Some("是" | "true" | "1" | "yes" | "Y") => true,
            Some(other) => {
                self.errors.push(RowError {
                    line: self.row.line,
                    message: format!("`{field}` must be 是 or 否, not `{other}`"),
                });
                false
            }
        }
    }
}

/// The ladders a file's `levels` fit: the first ladder with every level;
/// else every ladder with one of them (a town's 村 and 居民区 ladders under
/// one 镇); else every ladder (the rows' levels are then reported).
pub fn fitting_ladders<'s>(
    set: &'s PolicySet,
    levels: &[String],
) -> Vec<(&'s String, &'s [String])> {
    let has = |l: &[String], lv: &String| l.contains(lv);
    if let Some((n, l)) = set
        .ladders
        .iter()
        .find(|(_, l)| levels.iter().all(|lv| has(l, lv)))
    {
        return vec![(n, l.as_slice())];
    }
    let some: Vec<(&String, &[String])> = set
        .ladders
        .iter()
        .filter(|(_, l)| levels.iter().any(|lv| has(l, lv)))
        .map(|(n, l)| (n, l.as_slice()))
        .collect();
    if some.is_empty() {
        set.ladders.iter().map(|(n, l)| (n, l.as_slice())).collect()
    } else {
        some
    }
}

/// Ladders by name, each lowest level first.
pub type NamedLadders = Vec<(String, Vec<String>)>;

/// Validates unit rows against the ladders (each lowest level first) and
/// the units already registered: a level is on one of the ladders, and a
/// parent is above its child on a ladder that has both (a town's 村 and
/// 居民区 under one 镇 import together).
pub fn validate_units(
    rows: &[RawRow],
    named_ladders: &[(String, Vec<String>)],
    existing: &[Unit],
    file: &str,
) -> Result<Vec<Unit>, ImportError> {
    let ladders: Vec<&Vec<String>> = named_ladders.iter().map(|(_, l)| l).collect();
    let on_a_ladder = |level: &String| ladders.iter().any(|l| l.contains(level));
    let all_levels = || ladders.iter().copied().flatten().map(String::as_str);
    let mut errors = Vec::new();
    let mut units = Vec::with_capacity(rows.len());
    let mut lines: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let mut r = RowReader {
            row,
            errors: &mut errors,
        };
        let unit = Unit {
            id: r.required("id"),
            name: r.required("name"),
            level: r.required("level"),
            parent: r.text("parent"),
            households: r.int("households"),
            rural: r.bool("rural"),
            kind: r.text("kind"),
            party_members: r.int("party_members"),
            probationary_members: r.int("probationary_members"),
            organizations: r.int("organizations"),
            ladder: None,
        };
        if let Some(first) = lines.get(&unit.id) {
            errors.push(RowError {
                line: row.line,
                message: format!("unit `{}` appears twice (first on line {first})", unit.id),
            });
        } else if !unit.id.is_empty() {
            lines.insert(unit.id.clone(), row.line);
        }
        if !unit.level.is_empty() && !on_a_ladder(&unit.level) {
            let help = help_suffix(&unit.level, all_levels());
            errors.push(RowError {
                line: row.line,
                message: format!("level `{}` is not on the ladder{help}", unit.level),
            });
        }
        if let Some(k) = &unit.kind {
            if !UNIT_KINDS.contains(&k.as_str()) {
                errors.push(RowError {
                    line: row.line,
                    message: format!(
                        "unknown 专属网格 kind `{k}`; known: {}",
                        UNIT_KINDS.join("、")
                    ),
                });
            }
        }
        units.push((row.line, unit));
    }
    // Parents: in this file or already registered, and higher on the ladder.
    let mut all: BTreeMap<&str, &Unit> = existing.iter().map(|u| (u.id.as_str(), u)).collect();
    for (_, u) in &units {
        all.insert(u.id.as_str(), u);
    }
    // Whether `parent` is above `child` on a ladder that has both; `None`
    // when no ladder has both.
    let above = |parent: &str, child: &str| -> Option<bool> {
        let mut seen = None;
        for l in &ladders {
            let rank = |level: &str| l.iter().position(|x| x == level);
            if let (Some(c), Some(p)) = (rank(child), rank(parent)) {
                if p > c {
                    return Some(true);
                }
                seen = Some(false);
            }
        }
        seen
    };
    for (line, u) in &units {
        let Some(p) = &u.parent else { continue };
        match all.get(p.as_str()) {
            None => {
                let help = help_suffix(p, all.keys().copied());
                errors.push(RowError {
                    line: *line,
                    message: format!("unknown parent `{p}`{help}"),
                });
            }
            Some(parent) => {
                let fits = above(&parent.level, &u.level);
                let both_known = on_a_ladder(&u.level) && on_a_ladder(&parent.level);
                if fits != Some(true) && both_known {
                    errors.push(RowError {
                        line: *line,
                        message: format!(
                            "parent `{p}` is at `{}`, which is not above `{}` on any ladder",
                            parent.level, u.level
                        ),
                    });
                }
            }
        }
    }
    // Cycles (possible only through units whose levels are already wrong).
    for (line, u) in &units {
        let mut seen = HashSet::new();
        let mut at = u.id.as_str();
        while let Some(p) = all.get(at).and_then(|x| x.parent.as_deref()) {
            if !seen.insert(at) || p == u.id {
                errors.push(RowError {
                    line: *line,
                    message: format!("unit `{}` is its own ancestor", u.id),
                });
                break;
            }
            at = p;
        }
    }
    if errors.is_empty() {
        let mut units: Vec<Unit> = units.into_iter().map(|(_, u)| u).collect();
        assign_ladders(&mut units, existing, named_ladders);
        Ok(units)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(ImportError {
            file: file.to_string(),
            errors,
        })
    }
}

/// Validates people rows against the registry's units and the policy's
/// roles. A person on several rows holds several positions (双向进入、
/// 交叉任职): their name and party membership must agree; the first row
/// is the first position. A role's levels, party requirement and
/// leadership (one holder per unit, counting people already registered)
/// are checked.
pub fn validate_people(
    rows: &[RawRow],
    registry: &Registry,
    roles: &BTreeMap<String, RoleDef>,
    file: &str,
) -> Result<Vec<Person>, ImportError> {
    let mut errors = Vec::new();
    let mut people: Vec<Person> = Vec::new();
    let mut first_line: HashMap<String, (usize, usize)> = HashMap::new();
    for row in rows {
        let mut r = RowReader {
            row,
            errors: &mut errors,
        };
        let id = r.required("id");
        let name = r.required("name");
        let role = r.required("role");
        let unit = r.text("unit");
        let (party_member, probationary) = r.party("party_member");
        if let Some((line, at)) = first_line.get(&id).copied() {
            let p = &mut people[at];
            let same =
                p.name == name && (p.party_member, p.probationary) == (party_member, probationary);
            let again = p
                .positions()
                .any(|(r, u)| r == role && u == unit.as_deref());
            let problem = if !same {
                Some(format!(
                    "person `{id}` differs from line {line} in name or party membership"
                ))
            } else if again {
                Some(format!(
                    "person `{id}` already holds `{role}` there (line {line})"
                ))
            } else {
                p.also.push(Position {
                    role: role.clone(),
                    unit: unit.clone(),
                });
                None
            };
            if let Some(message) = problem {
                errors.push(RowError {
                    line: row.line,
                    message,
                });
            }
        } else {
            first_line.insert(id.clone(), (row.line, people.len()));
            people.push(Person {
                id: id.clone(),
                name,
                role: role.clone(),
                unit: unit.clone(),
                party_member,
                probationary,
                also: Vec::new(),
            });
        }
        let person = first_line.get(&id).and_then(|(_, at)| people.get(*at));
        position_errors(
            row.line,
            &role,
            unit.as_deref(),
            person,
            registry,
            roles,
            &mut errors,
        );
    }
    lead_errors(&people, registry, roles, &first_line, &mut errors);
    if errors.is_empty() {
        Ok(people)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(ImportError {
            file: file.to_string(),
            errors,
        })
    }
}

/// What an import of people is checked against: the registered (and
/// imported) units and the people already registered.
pub struct Registry<'a> {
    pub units: &'a [Unit],
    pub people: &'a [Person],
}

/// One position's problems: an undeclared role, an unknown unit, a unit at
/// a level the role does not sit at, a holder who is not the party member
/// the role requires.
fn position_errors(
    line: usize,
    role: &str,
    unit: Option<&str>,
    person: Option<&Person>,
    registry: &Registry,
    roles: &BTreeMap<String, RoleDef>,
    errors: &mut Vec<RowError>,
) {
    let mut push = |message: String| errors.push(RowError { line, message });
    let def = roles.get(role);
    if def.is_none() && !role.is_empty() {
        let known = roles.keys().map(String::as_str).collect::<Vec<_>>();
        let help = help_for(role, known.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_else(|| "; the policy declares no roles".to_string());
        push(format!("unknown role `{role}`{help}"));
    }
    let found = unit.map(|u| (u, registry.units.iter().find(|x| x.id == u)));
    match found {
        Some((u, None)) => {
            let help = help_suffix(u, registry.units.iter().map(|x| x.id.as_str()));
            push(format!("unknown unit `{u}`{help}"));
        }
        Some((u, Some(x))) => {
            if let Some(d) = def.filter(|d| !d.levels.is_empty() && !d.levels.contains(&x.level)) {
                push(format!(
                    "role `{role}` sits at {}, but unit `{u}` is at `{}`",
                    d.levels.join("、"),
                    x.level
                ));
            }
        }
        None => {
            if let Some(d) = def.filter(|d| !d.levels.is_empty()) {
                push(format!(
                    "role `{role}` sits at {}: name the unit",
                    d.levels.join("、")
                ));
            }
        }
    }
    if let (Some(req), Some(p)) = (def.and_then(|d| d.requires), person) {
        if !req.met_by(p) {
            push(format!(
                "role `{role}` requires a {}; `{}` is {}",
                req.word(),
                p.id,
                p.party_word()
            ));
        }
    }
}

/// A role that leads its unit has one holder per unit: among the imported
/// people and those already registered (whom the import does not replace).
fn lead_errors(
    people: &[Person],
    registry: &Registry,
    roles: &BTreeMap<String, RoleDef>,
    lines: &HashMap<String, (usize, usize)>,
    errors: &mut Vec<RowError>,
) {
    let mut holders: HashMap<(&str, &str), &str> = HashMap::new();
    let imported: HashSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
    let kept = registry
        .people
        .iter()
        .filter(|p| !imported.contains(p.id.as_str()));
    for p in kept.chain(people.iter()) {
        for (role, unit) in p.positions() {
            let (Some(unit), true) = (unit, roles.get(role).is_some_and(|d| d.leads)) else {
                continue;
            };
            match holders.get(&(role, unit)) {
                Some(other) if *other != p.id => errors.push(RowError {
                    line: lines.get(&p.id).map_or(0, |(l, _)| *l),
                    message: format!(
                        "`{unit}` already has a {role} (`{other}`); a {role} leads the unit alone"
                    ),
                }),
                _ => {
                    holders.insert((role, unit), &p.id);
                }
            }
        }
    }
}

/// When the policy has several ladders, each unit's: the one ladder its
/// level is on, else its parent's (a 格 under a 居 is on the 居民区 ladder).
fn assign_ladders(units: &mut [Unit], existing: &[Unit], ladders: &[(String, Vec<String>)]) {
    if ladders.len() < 2 {
        return;
    }
    let own = |level: &str| -> Option<String> {
        let mut on = ladders
            .iter()
            .filter(|(_, ls)| ls.iter().any(|l| l == level));
        match (on.next(), on.next()) {
            (Some((name, _)), None) => Some(name.clone()),
            _ => None,
        }
    };
    let mut parent_of: HashMap<String, Option<String>> = HashMap::new();
    let mut level_of: HashMap<String, String> = HashMap::new();
    for u in existing.iter().chain(units.iter()) {
        parent_of.insert(u.id.clone(), u.parent.clone());
        level_of.insert(u.id.clone(), u.level.clone());
    }
    for u in units.iter_mut() {
        let mut at = Some(u.id.clone());
        for _ in 0..64 {
            let Some(id) = at else { break };
            if let Some(l) = level_of.get(&id).and_then(|lv| own(lv)) {
                u.ladder = Some(l);
                break;
            }
            at = parent_of.get(&id).cloned().flatten();
        }
    }
}

/// Whether rows describe people (they have a `role` column) rather than units.
pub fn rows_are_people(rows: &[RawRow]) -> bool {
    rows.first().is_some_and(|r| r.fields.contains_key("role"))
}

/// One result of running a policy item over one unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    pub unit: String,
    pub name: String,
    pub level: String,
    pub item: String,
    pub result: Value,
}

/// Runs each policy item (a table or rule set with one parameter) over every
/// unit, the unit given as [`Unit::to_policy_json`].
pub fn report(
    set: &PolicySet,
    units: &[Unit],
    items: &[String],
) -> Result<Vec<ReportRow>, EvalError> {
    let mut rows = Vec::with_capacity(units.len() * items.len());
    for item in items {
        let param = set.get(item)?.params().first().cloned().unwrap_or_default();
        for u in units {
            let mut input = serde_json::Map::new();
            input.insert(param.clone(), u.to_policy_json());
            let d = set.evaluate(item, &Value::Object(input))?;
            rows.push(ReportRow {
                unit: u.id.clone(),
                name: u.name.clone(),
                level: u.level.clone(),
                item: item.clone(),
                result: Value::clone(&d.result),
            });
        }
    }
    Ok(rows)
}

/// A unit and every unit below it.
pub fn subtree(units: &[Unit], root: &str) -> HashSet<String> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for u in units {
        if let Some(p) = &u.parent {
            children.entry(p.as_str()).or_default().push(u.id.as_str());
        }
    }
    let mut out = HashSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if out.insert(id.to_string()) {
            stack.extend(children.get(id).into_iter().flatten().copied());
        }
    }
    out
}

/// One unit in a party tree's coverage: the organisation it should have,
/// the organisation above it (of its nearest ancestor that has one), and
/// who leads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyRow {
    pub unit: String,
    pub name: String,
    pub org: String,
    /// The organisation of the nearest ancestor unit that has one.
    pub parent_org: Option<String>,
    /// People holding a role that may lead it, in that unit (`id 角色`).
    pub leaders: Vec<String>,
}

/// Every unit a party tree covers, with its leaders; a unit with no
/// leader is a gap (coverage is the share of units with one).
pub fn party_coverage(tree: &PartyTree, units: &[Unit], people: &[Person]) -> Vec<PartyRow> {
    let by_id: HashMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut rows = Vec::new();
    for u in units {
        let Some(org) = tree.org_of(u) else { continue };
        let mut parent_org = None;
        let mut at = u.parent.as_deref();
        for _ in 0..64 {
            let Some(p) = at.and_then(|id| by_id.get(id)) else {
                break;
            };
            if let Some(o) = tree.org_of(p) {
                parent_org = Some(format!("{} {}", p.id, o.name));
                break;
            }
            at = p.parent.as_deref();
        }
        let leaders = people
            .iter()
            .flat_map(|p| {
                p.positions()
                    .filter(|(role, unit)| {
                        *unit == Some(u.id.as_str()) && org.led_by.iter().any(|r| r == role)
                    })
                    .map(|(role, _)| format!("{} {role}", p.id))
                    .collect::<Vec<_>>()
            })
            .collect();
        rows.push(PartyRow {
            unit: u.id.clone(),
            name: u.name.clone(),
            org: org.name.clone(),
            parent_org,
            leaders,
        });
    }
    rows
}
