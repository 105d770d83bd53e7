//! Conversions between engine types and `wangge.v1` messages.

use wangge_app::org::{Person, Unit};
use wangge_app::StoredPolicy;
use wangge_policy::{Case, CaseEvent, DeadlineKind};
use wangge_proto::v1;

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub fn case(c: &Case) -> v1::Case {
    v1::Case {
        id: c.id,
        workflow: c.workflow.clone(),
        version: c.version,
        policy_version: c.policy_version.clone(),
        state: c.state.clone(),
        level: c.level.clone(),
        class: opt(&c.class),
        ceiling: opt(&c.ceiling),
        unit: opt(&c.unit),
        data_json: c.data.to_string(),
        created_at: c.created_at,
        updated_at: c.updated_at,
        closed_at: c.closed_at.unwrap_or(0),
        deadlines: c.deadlines.iter().map(deadline).collect(),
        paused_at: c.paused_at.unwrap_or(0),
        breaches: c
            .breaches
            .iter()
            .map(|b| v1::Breach {
                from_level: b.from.clone(),
                to_level: b.to.clone(),
                at: b.at,
            })
            .collect(),
        summons: c
            .summons
            .iter()
            .map(|s| v1::Summon {
                department: s.department.clone(),
                summoned_at: s.summoned_at,
                due: s.due,
                reported_at: s.reported_at.unwrap_or(0),
                missed: s.missed,
            })
            .collect(),
        escalations: c.escalations,
        reopened: c.reopened,
        overdue: c.overdue,
        next_deadline: c.next_deadline().map_or(0, |d| d.due),
        feed_sequence: 0,
        incident: c.incident.as_ref().map(|i| v1::Incident {
            message: i.message.clone(),
            since: i.since,
            attempts: i.attempts,
            retry_at: i.retry_at,
        }),
        assignment: c.assignment.as_ref().map(|a| v1::Assignment {
            to: a.to.clone(),
            action: a.action.clone(),
            by: a.by.clone(),
            at: a.at,
            accepted_at: a.accepted_at.unwrap_or(0),
        }),
        request: c.request.as_ref().map(|r| v1::PendingRequest {
            name: r.name.clone(),
            by: r.by.clone(),
            at: r.at,
            reason: r.reason.clone(),
        }),
    }
}

pub fn event(e: &CaseEvent) -> v1::CaseEvent {
    v1::CaseEvent {
        case_id: e.case_id,
        seq: e.seq,
        at: e.at,
        actor: e.actor.clone(),
        action: e.action.clone(),
        outcome: opt(&e.outcome),
        state_before: opt(&e.state_before),
        state_after: e.state_after.clone(),
        level_before: opt(&e.level_before),
        level_after: e.level_after.clone(),
        policy_version: e.policy_version.clone(),
        explanation_json: e.explanation.as_str().to_string(),
        note: opt(&e.note),
        on_behalf: opt(&e.on_behalf),
    }
}

pub fn unit(u: &Unit) -> v1::Unit {
    v1::Unit {
        id: u.id.clone(),
        name: u.name.clone(),
        level: u.level.clone(),
        parent: opt(&u.parent),
        households: u.households,
        rural: u.rural,
        kind: opt(&u.kind),
        party_members: u.party_members,
        organizations: u.organizations,
        probationary_members: u.probationary_members,
        ladder: opt(&u.ladder),
    }
}

pub fn unit_row(u: &v1::Unit, line: usize) -> wangge_app::org::RawRow {
    let mut fields = std::collections::HashMap::new();
    for (k, v) in [
        ("id", u.id.clone()),
        ("name", u.name.clone()),
        ("level", u.level.clone()),
        ("parent", u.parent.clone()),
        ("households", u.households.to_string()),
        ("rural", u.rural.to_string()),
        ("kind", u.kind.clone()),
        ("party_members", u.party_members.to_string()),
        ("organizations", u.organizations.to_string()),
        ("probationary_members", u.probationary_members.to_string()),
    ] {
        fields.insert(k.to_string(), v);
    }
    wangge_app::org::RawRow { line, fields }
}

pub fn person(p: &Person) -> v1::Person {
    v1::Person {
        id: p.id.clone(),
        name: p.name.clone(),
        role: p.role.clone(),
        unit: opt(&p.unit),
        party_member: p.party_member,
        probationary: p.probationary,
        also: p
            .also
            .iter()
            .map(|x| v1::Position {
                role: x.role.clone(),
                unit: opt(&x.unit),
            })
            .collect(),
    }
}

/// A person as import rows: one per position, the first one first; the
/// `line` of each is the person's index in the request.
pub fn person_rows(p: &v1::Person, line: usize) -> Vec<wangge_app::org::RawRow> {
    let party = match (p.party_member, p.probationary) {
        (true, true) => "预备",
        (true, false) => "正式",
        (false, _) => "否",
    };
    let first = std::iter::once((p.role.clone(), p.unit.clone()));
    let also = p.also.iter().map(|x| (x.role.clone(), x.unit.clone()));
    first
        .chain(also)
        .map(|(role, unit)| {
            let fields = [
                ("id", p.id.clone()),
                ("name", p.name.clone()),
                ("role", role),
                ("unit", unit),
                ("party_member", party.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            wangge_app::org::RawRow { line, fields }
        })
        .collect()
}

pub fn version(v: &StoredPolicy, active: &str) -> v1::PolicyVersion {
    v1::PolicyVersion {
        hash: v.hash.clone(),
        name: opt(&v.name),
        label: opt(&v.label),
        deployed_at: v.deployed_at,
        active: v.hash == active,
        items: v.items.clone(),
    }
}

pub fn diagnostic(d: wangge_dsl::DiagnosticJson) -> v1::Diagnostic {
    v1::Diagnostic {
        file: d.file,
        line: d.line as u32,
        column: d.column as u32,
        end_line: d.end_line as u32,
        end_column: d.end_column as u32,
        severity: match d.severity {
            wangge_dsl::Severity::Error => "error".into(),
            wangge_dsl::Severity::Warning => "warning".into(),
        },
        code: d.code.into(),
        message: d.message,
        label: d.label.unwrap_or_default(),
        help: d.help.unwrap_or_default(),
    }
}

pub fn some(s: &str) -> Option<String> {
    non_empty(s)
}

/// A case's deadline on the wire.
pub fn deadline(d: &wangge_policy::Deadline) -> v1::Deadline {
    let (kind, subject) = match &d.kind {
        DeadlineKind::Level { level } => ("level", level.clone()),
        DeadlineKind::State { state } => ("state", state.clone()),
        DeadlineKind::ReportIn { department } => ("report_in", department.clone()),
        DeadlineKind::Accept { assignee } => ("accept", assignee.clone()),
        DeadlineKind::Approve { request } => ("approve", request.clone()),
        DeadlineKind::Remind { of, percent } => {
            ("remind", format!("{percent}% of {}", of.describe()))
        }
    };
    v1::Deadline {
        kind: kind.into(),
        subject,
        clock: d.clock.as_str().into(),
        due: d.due,
    }
}
