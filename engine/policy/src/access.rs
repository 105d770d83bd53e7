//! Grants compiled from `grant` items: what the holders of each role, and
//! each service account, may do. Deny by default: a permission no grant
//! names is refused. Scoping a grant to a unit subtree is the services'
//! part (they know the registry); this is the policy's word.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use wangge_dsl::ast;

/// One thing a grant allows (the words of `wangge_dsl::grant_check::PERMISSIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Permission {
    Report,
    ReadCases,
    Act,
    Personal,
    OnBehalf,
    Deploy,
    ImportOrg,
    ReadPeople,
    Clock,
    Export,
    Activity,
    ReadSettlements,
    Settle,
    Points,
    Survey,
    Score,
    Audit,
    SendTask,
    DoTask,
    ReadTasks,
}

const WORDS: &[(Permission, &str)] = &[
    (Permission::Report, "上报"),
    (Permission::ReadCases, "查看案件"),
    (Permission::Act, "办理"),
    (Permission::Personal, "查看个人信息"),
    (Permission::OnBehalf, "代办"),
    (Permission::Deploy, "发布策略"),
    (Permission::ImportOrg, "导入组织"),
    (Permission::ReadPeople, "查看人员"),
    (Permission::Clock, "调整时钟"),
    (Permission::Export, "导出"),
    (Permission::Activity, "登记活动"),
    (Permission::ReadSettlements, "查看补贴"),
    (Permission::Settle, "结算补贴"),
    (Permission::Points, "发放积分"),
    (Permission::Survey, "记录调查"),
    (Permission::Score, "评分"),
    (Permission::Audit, "查看审计"),
    (Permission::SendTask, "下派任务"),
    (Permission::DoTask, "办理任务"),
    (Permission::ReadTasks, "查看任务"),
];

impl Permission {
    /// The policy's word for it (`上报`).
    pub fn word(self) -> &'static str {
        WORDS
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("?", |(_, w)| w)
    }

    pub fn from_word(word: &str) -> Option<Permission> {
        WORDS.iter().find(|(_, w)| *w == word).map(|(p, _)| *p)
    }
}

/// What one role or service account may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GrantDef {
    pub permissions: BTreeSet<Permission>,
    /// `办理`: workflow → its allowed actions (`None`: all of them).
    pub acts: BTreeMap<String, Option<BTreeSet<String>>>,
    /// Only on cases the holder's unit was summoned to.
    pub summoned: bool,
}

impl GrantDef {
    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// Whether it may take `action` in `workflow`.
    pub fn may_act(&self, workflow: &str, action: &str) -> bool {
        match self.acts.get(workflow) {
            Some(None) => true,
            Some(Some(actions)) => actions.contains(action),
            None => false,
        }
    }
}

/// Every grant of a policy set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grants {
    pub roles: BTreeMap<String, GrantDef>,
    pub services: BTreeMap<String, GrantDef>,
}

impl Grants {
    /// Adds a checked `grant` item (names and words were resolved).
    pub fn add(&mut self, g: &ast::Grant) {
        let mut def = GrantDef {
            summoned: g.summoned,
            ..GrantDef::default()
        };
        for line in &g.lines {
            let Some(p) = Permission::from_word(&line.permission.name) else {
                continue;
            };
            def.permissions.insert(p);
            if let Some(w) = &line.workflow {
                let actions = line
                    .actions
                    .as_ref()
                    .map(|acts| acts.iter().map(|a| a.name.clone()).collect());
                def.acts.insert(w.name.clone(), actions);
            }
        }
        let map = if g.service {
            &mut self.services
        } else {
            &mut self.roles
        };
        map.insert(g.name.name.clone(), def);
    }

    /// Whether any grant names anything (a policy without grants allows
    /// nothing to authenticated callers).
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.services.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_word_of_the_language_is_compiled() {
        for (word, _) in wangge_dsl::grant_check::PERMISSIONS {
            let p = Permission::from_word(word);
            assert!(p.is_some(), "`{word}` has no Permission");
            assert_eq!(p.map(Permission::word), Some(*word));
        }
        assert_eq!(WORDS.len(), wangge_dsl::grant_check::PERMISSIONS.len());
    }
}
