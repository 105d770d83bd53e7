//! The organisation's domain types: units (grids and the levels above them,
//! and 专属网格 with their kind), people, and the roles a person can have.
//! Importing and validating them is the app layer's job.

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
/// Roles of people.
pub const ROLES: &[&str] = &["专职网格员", "微网格员", "党员", "志愿者", "部门"];

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
    pub party_members: i64,
    /// Existing party organisations (for 三建一管).
    pub organizations: i64,
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
            "党员数": self.party_members,
            "现有组织数": self.organizations,
        })
    }
}

/// A person: worker, party member, volunteer or department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: String,
    pub unit: Option<String>,
    pub party_member: bool,
}
