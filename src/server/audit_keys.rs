//! What the audit log records of each request: its key fields (ids,
//! names, periods; never report data or personal fields), and which
//! methods are writes (audited whether they succeed or not; reads only
//! when refused).

use std::collections::BTreeMap;

use wangge_proto::v1;

/// The key fields of a request, for the audit log.
pub trait AuditKeys {
    fn audit_keys(&self) -> BTreeMap<String, String>;
}

/// Methods that change something.
const WRITES: &[&str] = &[
    "CaseService/Report",
    "CaseService/Act",
    "PolicyService/Deploy",
    "PolicyService/Rollback",
    "OrgService/UpsertUnits",
    "OrgService/UpsertPeople",
    "OrgService/Import",
    "AdminService/SetClock",
    "AdminService/AdvanceClock",
    "AdminService/Backup",
    "AdminService/ResendDeadLetter",
    "IncentiveService/RecordActivity",
    "IncentiveService/RecordActivities",
    "IncentiveService/Settle",
    "IncentiveService/Correct",
    "IncentiveService/EarnPoints",
    "IncentiveService/RedeemPoints",
    "EvaluationService/RecordSurvey",
    "EvaluationService/ScoreLevel",
    "TaskService/Create",
    "TaskService/Accept",
    "TaskService/Complete",
    "IntakeService/Submit",
    "IntakeService/Callback",
];

pub fn is_write(method: &str) -> bool {
    WRITES.contains(&method)
}

/// Field text for the log: numbers and flags as written, empty ones left out.
trait KeyText {
    fn key_text(&self) -> Option<String>;
}

impl KeyText for String {
    fn key_text(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.clone())
    }
}

impl KeyText for Vec<String> {
    fn key_text(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.join(","))
    }
}

macro_rules! numeric_key_text {
    ($($t:ty),*) => {$(
        impl KeyText for $t {
            fn key_text(&self) -> Option<String> {
                (*self != 0).then(|| self.to_string())
            }
        }
    )*};
}
numeric_key_text!(u64, i64, u32);

impl KeyText for bool {
    fn key_text(&self) -> Option<String> {
        self.then(|| "true".to_string())
    }
}

macro_rules! audit_keys {
    ($($t:ty { $($f:ident),* })*) => {$(
        impl AuditKeys for $t {
            #[allow(unused_mut)]
            fn audit_keys(&self) -> BTreeMap<String, String> {
                let mut out = BTreeMap::new();
                $(
                    if let Some(v) = self.$f.key_text() {
                        out.insert(stringify!($f).to_string(), v);
                    }
                )*
                out
            }
        }
    )*};
}

audit_keys! {
    v1::ReportRequest { workflow, unit, idempotency_key, actor }
    v1::GetCaseRequest { id }
    v1::ListCasesRequest { unit, workflow, state, class, level }
    v1::ActRequest { id, action, outcome, departments, expected_version, actor }
    v1::WatchCasesRequest { from_sequence }
    v1::TodoRequest { unit, workflow, due_within_seconds }
    v1::ListVersionsRequest {}
    v1::GetActiveRequest {}
    v1::ValidateRequest {}
    v1::DeployRequest {}
    v1::RollbackRequest { hash }
    v1::EvaluateRequest { item }
    v1::UpsertUnitsRequest { ladder }
    v1::UpsertPeopleRequest {}
    v1::ImportRequest { name, ladder }
    v1::GetUnitRequest { id }
    v1::ListUnitsRequest { under, level }
    v1::ListPeopleRequest { unit }
    v1::GetClockRequest {}
    v1::SetClockRequest { now }
    v1::AdvanceClockRequest { seconds }
    v1::BackupRequest { dir }
    v1::ExportRequest { from_time, to_time, redact }
    v1::RecordActivityRequest { person, kind, quantity, period, unit, key, correction }
    v1::RecordActivitiesRequest {}
    v1::ListActivitiesRequest { period, person }
    v1::PreviewRequest { person, period }
    v1::SettleRequest { period, persons }
    v1::CorrectRequest { period, person, reason }
    v1::ListSettlementsRequest { period, person }
    v1::PointsRequest { resident, rule, quantity, key }
    v1::GetBalanceRequest { resident }
    v1::PointsHistoryRequest { resident }
    v1::RecordSurveyRequest { unit, period, score, respondents, key }
    v1::ScoreUnitRequest { scorecard, id, period }
    v1::ScoreLevelRequest { scorecard, period }
    v1::RankRequest { award, period }
    v1::HistoryRequest { scorecard, id }
    v1::ListScoresRequest { scorecard, period, unit }
    v1::ListEntriesRequest { who, method, outcome }
    v1::VerifyRequest {}
    v1::ListDeadLettersRequest { webhook }
    v1::ResendDeadLetterRequest { webhook, sequence }
    v1::CreateTaskRequest { task, under }
    v1::ListTasksRequest {}
    v1::TaskProgressRequest { id, level, under }
    v1::TaskPartsRequest { id, status, under }
    v1::TaskUnitRequest { id, unit }
    v1::CompleteTaskRequest { id, unit, attachment }
    v1::TaskEventsRequest { from_sequence }
    v1::IntakeRequest { intake, actor }
}
