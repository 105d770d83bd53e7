//! The organisation's domain types: units (grids and the levels above them,
//! and 专属网格 with their kind), people and the positions they hold, and
//! the roles a policy declares (`role` items). Importing and validating
//! them is the app layer's job.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Kinds of 专属网格.
pub const UNIT_KINDS: &[&str] = &[
    "园区",
    "楼宇",
    "商圈市场",
    "学校",
    "医疗卫生",
    "机关企事业单位",
    "街面",
    "河湖",
];

/// A role declared by the policy (`role 网格长 { at 一般网格 leads requires 党员 }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleDef {
    pub name: String,
    /// Ladder levels where it sits; empty: any unit, or none.
    pub levels: Vec<String>,
    /// It leads its unit (a 长): one holder per unit.
    pub leads: bool,
    /// It requires a party member.
    pub requires: Option<PartyRequirement>,
}

/// A party tree declared by the policy (`party 网格党组织 { … }`): the
/// organisation each unit of a kind should have, and who may lead it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyTree {
    pub name: String,
    pub orgs: Vec<PartyOrgDef>,
}

/// One kind of organisation of a party tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyOrgDef {
    pub name: String,
    /// A ladder level, or `专属网格` (a unit with a kind).
    pub at: String,
    /// Roles that may lead it (its 书记, 组长, or a 选派党员).
    pub led_by: Vec<String>,
}

impl PartyTree {
    /// The organisation `unit` should have, if any.
    pub fn org_of(&self, unit: &Unit) -> Option<&PartyOrgDef> {
        let kind = if unit.kind.is_some() {
            "专属网格"
        } else {
            unit.level.as_str()
        };
        self.orgs.iter().find(|o| o.at == kind)
    }
}

/// What a role requires of its holder's party membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PartyRequirement {
    /// 党员: a full or a probationary member.
    Member,
    /// 正式党员: a full member.
    Full,
}

impl PartyRequirement {
    /// From its policy word.
    pub fn from_word(word: &str) -> Option<PartyRequirement> {
        match word {
            "党员" => Some(PartyRequirement::Member),
            "正式党员" => Some(PartyRequirement::Full),
            _ => None,
        }
    }

    /// Whether `person` meets it.
    pub fn met_by(self, person: &Person) -> bool {
        match self {
            PartyRequirement::Member => person.party_member,
            PartyRequirement::Full => person.party_member && !person.probationary,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            PartyRequirement::Member => "党员",
            PartyRequirement::Full => "正式党员",
        }
    }
}

/// A unit of the organisation: a grid, community, street …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    /// Its level on the ladder.
    pub level: String,
    pub parent: Option<String>,
    pub households: i64,
    pub rural: bool,
    /// For 专属网格: 园区, 楼宇, 学校 …
    pub kind: Option<String>,
    /// Full (正式) party members living or working in it.
    pub party_members: i64,
    /// Probationary (预备) party members, counted apart.
    #[serde(default)]
    pub probationary_members: i64,
    /// Existing party organisations (for 三建一管).
    pub organizations: i64,
    /// The ladder it is on, when the policy has several (a town's 格 under a
    /// 村 or under a 居): found at import from its level or its parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
}

impl Unit {
    /// The unit as policies see it (Chinese field names, see docs/language.md).
    /// `类型` is the level, or `专属网格` for a unit with a kind.
    pub fn to_policy_json(&self) -> Value {
        let kind = if self.kind.is_some() {
            "专属网格"
        } else {
            self.level.as_str()
        };
        json!({
            "编号": self.id,
            "名称": self.name,
            "类型": kind,
            "层级": self.level,
            "上级": self.parent,
            "户数": self.households,
            "农村": self.rural,
            "专属类型": self.kind,
            "党员数": self.party_members + self.probationary_members,
            "正式党员数": self.party_members,
            "预备党员数": self.probationary_members,
            "现有组织数": self.organizations,
            "网格体系": self.ladder,
        })
    }
}

/// A person (worker, party member, volunteer) or a department, with the
/// positions they hold: the first (`role` in `unit`) and any further ones
/// (双向进入、交叉任职: a 社区书记 who is also 总网格长).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    /// The role of the first position.
    pub role: String,
    /// The unit of the first position.
    pub unit: Option<String>,
    /// A party member, full or probationary.
    pub party_member: bool,
    /// A probationary (预备) party member.
    #[serde(default)]
    pub probationary: bool,
    /// Positions held besides the first.
    #[serde(default)]
    pub also: Vec<Position>,
}

/// A role held in a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub role: String,
    pub unit: Option<String>,
}

impl Person {
    /// Every position, the first one first.
    pub fn positions(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        std::iter::once((self.role.as_str(), self.unit.as_deref())).chain(
            self.also
                .iter()
                .map(|p| (p.role.as_str(), p.unit.as_deref())),
        )
    }

    /// Whether any position is `role`.
    pub fn holds(&self, role: &str) -> bool {
        self.positions().any(|(r, _)| r == role)
    }

    /// Whether any position is in `unit`.
    pub fn serves(&self, unit: &str) -> bool {
        self.positions().any(|(_, u)| u == Some(unit))
    }

    /// 正式党员, 预备党员 or 群众.
    pub fn party_word(&self) -> &'static str {
        match (self.party_member, self.probationary) {
            (true, false) => "正式党员",
            (true, true) => "预备党员",
            (false, _) => "群众",
        }
    }
}
