//! Who may do what: the verified caller ([`Caller`]), the registry as an
//! index of parents and positions ([`Directory`]), and the one check every
//! service call makes ([`authorize`]): the policy's grants ([`Grants`]) for
//! the caller's roles, each reaching its unit's subtree (or, `summoned`,
//! the cases its unit was summoned to). Deny by default.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wangge_policy::org::{Person, Unit};
use wangge_policy::{Case, GrantDef, Permission, PolicySet};

use crate::error::{AppError, AppResult};

/// Whom a call was verified to come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A person in the registry (a token's subject).
    Person(String),
    /// A service account the policy grants (`grant service NAME`).
    Service(String),
    /// The operator of a server running without authentication (loopback
    /// only): every call is allowed, as before authentication existed.
    Operator,
}

/// The verified caller of one call, and the person a service account acts
/// for (only with `代办`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    pub on_behalf: Option<String>,
}

impl Caller {
    pub fn operator() -> Caller {
        Caller {
            principal: Principal::Operator,
            on_behalf: None,
        }
    }

    /// The name stored as the actor of what it writes: the person's id,
    /// `service:NAME`, or `operator`.
    pub fn name(&self) -> String {
        match &self.principal {
            Principal::Person(p) => p.clone(),
            Principal::Service(s) => format!("service:{s}"),
            Principal::Operator => "operator".into(),
        }
    }

    /// Whether authentication is off (every call allowed, nothing masked).
    pub fn is_operator(&self) -> bool {
        self.principal == Principal::Operator
    }
}

/// What a call needs.
#[derive(Debug, Clone, Copy)]
pub enum Need<'a> {
    /// A permission other than `办理`.
    May(Permission),
    /// `办理 WORKFLOW: ACTION`.
    Act { workflow: &'a str, action: &'a str },
}

impl Need<'_> {
    fn granted(&self, g: &GrantDef) -> bool {
        match *self {
            Need::May(p) => g.allows(p),
            Need::Act { workflow, action } => g.may_act(workflow, action),
        }
    }

    fn describe(&self) -> String {
        match self {
            Need::May(p) => format!("`{}`", p.word()),
            Need::Act { workflow, action } => format!("`办理 {workflow}: {action}`"),
        }
    }
}

/// Where the call acts.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Not tied to a unit (deploys, the clock, exports).
    Anywhere,
    /// A unit of the registry.
    Unit(&'a str),
    /// A case: its unit, or the departments summoned to it.
    Case(&'a Case),
}

/// The registry as the checks read it: each unit's parent, each person's
/// positions. Rebuilt when the registry changes.
#[derive(Debug, Default)]
pub struct Directory {
    parents: HashMap<String, Option<String>>,
    children: HashMap<String, Vec<String>>,
    levels: HashMap<String, String>,
    people: HashMap<String, Person>,
}

impl Directory {
    pub fn new(units: &[Unit], people: Vec<Person>) -> Directory {
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for u in units {
            if let Some(p) = &u.parent {
                children.entry(p.clone()).or_default().push(u.id.clone());
            }
        }
        Directory {
            parents: units
                .iter()
                .map(|u| (u.id.clone(), u.parent.clone()))
                .collect(),
            children,
            levels: units
                .iter()
                .map(|u| (u.id.clone(), u.level.clone()))
                .collect(),
            people: people.into_iter().map(|p| (p.id.clone(), p)).collect(),
        }
    }

    /// A unit's level, if it is registered.
    pub fn level(&self, unit: &str) -> Option<&str> {
        self.levels.get(unit).map(String::as_str)
    }

    /// A unit's parent.
    pub fn parent(&self, unit: &str) -> Option<&str> {
        self.parents.get(unit).and_then(|p| p.as_deref())
    }

    /// The units at `level` in `root`'s subtree, in id order.
    pub fn units_at(&self, root: &str, level: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        let mut seen = std::collections::HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if self.level(id) == Some(level) {
                out.push(id.to_string());
            }
            stack.extend(
                self.children
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            );
        }
        out.sort_unstable();
        out
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.get(id)
    }

    /// Whether `unit` is `root` or below it.
    pub fn within(&self, unit: &str, root: &str) -> bool {
        let mut at = Some(unit);
        let mut steps = 0;
        while let Some(u) = at {
            if u == root {
                return true;
            }
            // A cycle in damaged data must not loop for ever.
            steps += 1;
            if steps > 64 {
                return false;
            }
            at = self.parents.get(u).and_then(|p| p.as_deref());
        }
        false
    }

    /// Whether `unit` has no parent (the top of its tree).
    pub fn is_root(&self, unit: &str) -> bool {
        matches!(self.parents.get(unit), Some(None))
    }

    /// `root` and every unit below it.
    pub fn subtree(&self, root: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if out.insert(id.to_string()) {
                stack.extend(
                    self.children
                        .get(id)
                        .into_iter()
                        .flatten()
                        .map(String::as_str),
                );
            }
        }
        out
    }
}

/// The cases a caller may read: everything, or those in some subtrees and
/// those its units were summoned to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub all: bool,
    pub units: HashSet<String>,
    pub summoned: HashSet<String>,
}

impl Scope {
    /// Whether `case` is in the scope.
    pub fn sees(&self, case: &Case) -> bool {
        self.all
            || case.unit.as_ref().is_some_and(|u| self.units.contains(u))
            || case
                .summons
                .iter()
                .any(|s| self.summoned.contains(&s.department))
    }
}

fn denied(caller: &Caller, need: &Need, why: String) -> AppError {
    AppError::PermissionDenied {
        who: caller.name(),
        what: need.describe(),
        why,
    }
}

/// The roles (with their units) a person holds that grant `need`.
fn positions_granting<'a>(
    set: &'a PolicySet,
    person: &'a Person,
    need: &'a Need,
) -> impl Iterator<Item = (&'a GrantDef, Option<&'a str>)> + 'a {
    person.positions().filter_map(move |(role, unit)| {
        set.grants
            .roles
            .get(role)
            .filter(|g| need.granted(g))
            .map(|g| (g, unit))
    })
}

/// The names a summons may give a department by: its unit, or the
/// person who stands for it (its id or name).
fn department_names<'a>(
    person: &'a Person,
    unit: Option<&'a str>,
) -> impl Iterator<Item = &'a str> {
    unit.into_iter()
        .chain([person.id.as_str(), person.name.as_str()])
}

fn reaches(
    dir: &Directory,
    g: &GrantDef,
    person: &Person,
    unit: Option<&str>,
    target: Target,
) -> bool {
    match (target, unit) {
        (Target::Anywhere, _) => true,
        (Target::Case(c), _) if g.summoned => c
            .summons
            .iter()
            .any(|s| department_names(person, unit).any(|n| n == s.department)),
        (_, None) => false,
        (Target::Unit(t), Some(u)) => !g.summoned && dir.within(t, u),
        (Target::Case(c), Some(u)) => match &c.unit {
            Some(cu) => dir.within(cu, u),
            None => dir.is_root(u),
        },
    }
}

/// On an assigned case, an action is the assignee's, or of someone above
/// them: a position at a unit strictly above one the assignee serves in.
fn above_assignee(
    dir: &Directory,
    person: &Person,
    unit: Option<&str>,
    need: &Need,
    target: Target,
) -> bool {
    let (Need::Act { action, .. }, Target::Case(c)) = (need, target) else {
        return true;
    };
    // A request (延期申请, 挂账) is decided from above its requester.
    if matches!(*action, "批准" | "驳回") {
        if let Some(r) = &c.request {
            return r.by != person.id && above(dir, unit, &r.by);
        }
    }
    let Some(a) = &c.assignment else {
        return true;
    };
    a.to == person.id || above(dir, unit, &a.to)
}

/// Whether a position at `unit` is strictly above a unit `other` serves in
/// (true when `other` is not a registered person: nothing to compare).
fn above(dir: &Directory, unit: Option<&str>, other: &str) -> bool {
    let Some(them) = dir.person(other) else {
        return true;
    };
    let Some(u) = unit else {
        return false;
    };
    them.positions()
        .filter_map(|(_, v)| v)
        .any(|v| v != u && dir.within(v, u))
}

/// Allows the call or says why not (PERMISSION_DENIED). A service account's
/// grants are not scoped; a person's reach their positions' subtrees.
pub fn authorize(
    set: &PolicySet,
    dir: &Directory,
    caller: &Caller,
    need: Need,
    target: Target,
) -> AppResult<()> {
    match &caller.principal {
        Principal::Operator => Ok(()),
        Principal::Service(name) => match set.grants.services.get(name) {
            Some(g) if need.granted(g) => Ok(()),
            Some(_) => Err(denied(
                caller,
                &need,
                format!("the policy's `grant service {name}` does not name it"),
            )),
            None => Err(denied(
                caller,
                &need,
                format!("the policy grants no service account `{name}`"),
            )),
        },
        Principal::Person(id) => {
            let Some(person) = dir.person(id) else {
                return Err(denied(
                    caller,
                    &need,
                    format!("no person `{id}` in the registry"),
                ));
            };
            let mut granted = false;
            for (g, unit) in positions_granting(set, person, &need) {
                granted = true;
                if reaches(dir, g, person, unit, target)
                    && above_assignee(dir, person, unit, &need, target)
                {
                    return Ok(());
                }
            }
            let why = if granted {
                match target {
                    Target::Case(c) => match &c.assignment {
                        Some(a) if a.to != *id => format!(
                            "case {} is assigned to `{}`: only they or someone above them act on it",
                            c.id, a.to
                        ),
                        _ => format!(
                            "case {} (unit `{}`) is outside the units of `{id}`'s roles",
                            c.id,
                            c.unit.as_deref().unwrap_or("-")
                        ),
                    },
                    Target::Unit(u) => format!("unit `{u}` is outside the units of `{id}`'s roles"),
                    Target::Anywhere => "no role grants it here".into(),
                }
            } else {
                let roles: Vec<&str> = person.positions().map(|(r, _)| r).collect();
                format!("no role of `{id}` ({}) is granted it", roles.join(", "))
            };
            Err(denied(caller, &need, why))
        }
    }
}

/// The cases `caller` may read (`查看案件`).
pub fn read_scope(set: &PolicySet, dir: &Directory, caller: &Caller) -> Scope {
    let need = Need::May(Permission::ReadCases);
    let mut scope = Scope::default();
    match &caller.principal {
        Principal::Operator => scope.all = true,
        Principal::Service(name) => {
            scope.all = set
                .grants
                .services
                .get(name)
                .is_some_and(|g| need.granted(g));
        }
        Principal::Person(id) => {
            let Some(person) = dir.person(id) else {
                return scope;
            };
            for (g, unit) in positions_granting(set, person, &need) {
                if g.summoned {
                    scope
                        .summoned
                        .extend(department_names(person, unit).map(str::to_string));
                    continue;
                }
                let Some(u) = unit else { continue };
                if dir.is_root(u) {
                    scope.all = true;
                } else {
                    scope.units.extend(dir.subtree(u));
                }
            }
        }
    }
    scope
}

/// Whether the caller sees personal fields unmasked (`查看个人信息`
/// anywhere, or no authentication).
pub fn sees_personal(set: &PolicySet, dir: &Directory, caller: &Caller) -> bool {
    authorize(
        set,
        dir,
        caller,
        Need::May(Permission::Personal),
        Target::Anywhere,
    )
    .is_ok()
}

/// The registry index, shared and replaced whole when the registry changes.
pub type SharedDirectory = Arc<Directory>;
