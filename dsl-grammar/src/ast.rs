//! The syntax tree. Every node carries the [`Span`] it was parsed from.

use rust_decimal::Decimal;

use crate::span::Span;

/// A name as written, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    pub kind: LitKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LitKind {
    Str(String),
    Int(i64),
    /// A number with a fractional part, kept exact.
    Dec(Decimal),
    Bool(bool),
    /// Money in 元, exact to the fen.
    Money(Decimal),
    /// A duration in seconds (`3h`, `2d`, `1h30m`).
    Duration(i64),
    /// A date, a date and time, or a time of day.
    Moment(crate::value::Moment),
}

/// A literal or a name (a ladder level or a `param`).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Lit(Lit),
    Name(Ident),
}

impl Scalar {
    pub fn span(&self) -> Span {
        match self {
            Scalar::Lit(l) => l.span,
            Scalar::Name(i) => i.span,
        }
    }
}

/// A `param` value: a scalar or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    Scalar(Scalar),
    List(Vec<ValueExpr>, Span),
}

impl ValueExpr {
    pub fn span(&self) -> Span {
        match self {
            ValueExpr::Scalar(s) => s.span(),
            ValueExpr::List(_, s) => *s,
        }
    }
}

/// Verbatim rhai source with the span of its first character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RhaiCode {
    pub text: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // few items per file; boxing buys nothing
pub enum Item {
    Policy(PolicyHeader),
    Ladder(Ladder),
    Role(Role),
    Grant(Grant),
    Schema(Schema),
    Party(Party),
    Param(Param),
    Table(Table),
    Rules(RuleSet),
    Calc(Calc),
    Calendar(Calendar),
    Workflow(Workflow),
    Subsidy(Subsidy),
    Points(Points),
    Scorecard(Scorecard),
    Award(Award),
    Task(Task),
    Intake(Intake),
    Scenario(Scenario),
}

impl Item {
    pub fn name(&self) -> &Ident {
        match self {
            Item::Policy(p) => &p.name,
            Item::Ladder(l) => &l.name,
            Item::Role(r) => &r.name,
            Item::Grant(g) => &g.name,
            Item::Schema(s) => &s.name,
            Item::Party(p) => &p.name,
            Item::Param(p) => &p.name,
            Item::Table(t) => &t.name,
            Item::Rules(r) => &r.name,
            Item::Calc(c) => &c.name,
            Item::Calendar(c) => &c.name,
            Item::Workflow(w) => &w.name,
            Item::Subsidy(s) => &s.name,
            Item::Points(p) => &p.name,
            Item::Scorecard(c) => &c.name,
            Item::Award(a) => &a.name,
            Item::Task(t) => &t.name,
            Item::Intake(i) => &i.name,
            Item::Scenario(s) => &s.name,
        }
    }

    /// The keyword that introduces the item.
    pub fn keyword(&self) -> &'static str {
        match self {
            Item::Policy(_) => "policy",
            Item::Ladder(_) => "ladder",
            Item::Role(_) => "role",
            Item::Grant(_) => "grant",
            Item::Schema(_) => "schema",
            Item::Party(_) => "party",
            Item::Param(_) => "param",
            Item::Table(_) => "table",
            Item::Rules(_) => "rules",
            Item::Calc(_) => "calc",
            Item::Calendar(_) => "calendar",
            Item::Workflow(_) => "workflow",
            Item::Subsidy(_) => "subsidy",
            Item::Points(_) => "points",
            Item::Scorecard(_) => "scorecard",
            Item::Award(_) => "award",
            Item::Task(_) => "task",
            Item::Intake(_) => "intake",
            Item::Scenario(_) => "scenario",
        }
    }
}

/// `policy 名称 { version "1.0" summary "…" }`
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyHeader {
    pub name: Ident,
    pub fields: Vec<(Ident, String)>,
    pub span: Span,
}

/// `ladder 城市网格 { 微网格 -> 一般网格 -> 社区 }`
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    pub name: Ident,
    pub levels: Vec<Ident>,
    pub span: Span,
}

/// `role 网格长 { at 一般网格 leads requires 党员 }`: a position people hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: Ident,
    /// The ladder levels where it sits; none: any unit (or none).
    pub levels: Vec<Ident>,
    /// Whether it leads its unit (a 长): at most one holder per unit.
    pub leads: bool,
    /// `党员` or `正式党员`, when the role requires one.
    pub requires: Option<Ident>,
    pub span: Span,
}

/// `grant 微网格员 { 上报 查看案件 办理 事件处置: 受理, 办结 }`: what the
/// holders of a role, or a service account (`grant service 热线12345`),
/// may do. Deny by default: nothing is allowed that no grant names.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The role, or the service account's name.
    pub name: Ident,
    pub service: bool,
    /// Only on cases the holder's unit was summoned to (a 职能部门).
    pub summoned: bool,
    pub lines: Vec<GrantLine>,
    pub span: Span,
}

/// One permission of a grant.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantLine {
    /// 上报, 查看案件, 办理, 发布策略 … (see `PERMISSIONS`).
    pub permission: Ident,
    /// With `办理`: the workflow.
    pub workflow: Option<Ident>,
    /// With `办理`: its actions; `None` for `*` (all of them).
    pub actions: Option<Vec<Ident>>,
    pub span: Span,
}

/// `party 网格党组织 { 一般网格党支部 at 一般网格 led by 网格党支部书记, 选派党员 … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Party {
    pub name: Ident,
    pub orgs: Vec<PartyOrg>,
    pub span: Span,
}

/// One kind of party organisation: its name, the unit kind it is set up
/// in (a ladder level, or `专属网格`), and the roles that may lead it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyOrg {
    pub name: Ident,
    pub at: Ident,
    pub led_by: Vec<Ident>,
    pub span: Span,
}

/// `schema 事件报告 { 类别: 文本, 人数: 整数 [0..100000], 电话: 文本 optional personal }`
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

/// One field of a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: FieldType,
    pub optional: bool,
    pub personal: bool,
    /// `[lo..hi]` with open or closed ends.
    pub range: Option<(Scalar, bool, Scalar, bool, Span)>,
    pub span: Span,
}

/// A field's type as written.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    /// 文本, 整数, 数, 金额, 时长, 日期, 时间, 时刻, 布尔 or a schema's name.
    Named(Ident),
    /// 枚举["甲", "乙"]
    Enum(Vec<Scalar>, Span),
}

/// `param 名称 = 值`
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub value: ValueExpr,
    pub span: Span,
}

/// DMN hit policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitPolicy {
    Unique,
    First,
    Priority,
    Any,
    Collect(Option<Aggregator>),
    RuleOrder,
    OutputOrder,
}

impl HitPolicy {
    /// The policy as written in a table header.
    pub fn as_str(&self) -> &'static str {
        match self {
            HitPolicy::Unique => "unique",
            HitPolicy::First => "first",
            HitPolicy::Priority => "priority",
            HitPolicy::Any => "any",
            HitPolicy::Collect(None) => "collect",
            HitPolicy::Collect(Some(Aggregator::Sum)) => "collect sum",
            HitPolicy::Collect(Some(Aggregator::Min)) => "collect min",
            HitPolicy::Collect(Some(Aggregator::Max)) => "collect max",
            HitPolicy::Collect(Some(Aggregator::Count)) => "collect count",
            HitPolicy::RuleOrder => "rule order",
            HitPolicy::OutputOrder => "output order",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregator {
    Sum,
    Min,
    Max,
    Count,
}

/// A decision table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: Ident,
    pub params: Vec<Ident>,
    /// The schema of each parameter, where it names one.
    pub schemas: Vec<Option<Ident>>,
    pub hit: HitPolicy,
    pub hit_span: Option<Span>,
    pub inputs: Vec<InputCol>,
    pub outputs: Vec<OutputCol>,
    pub rows: Vec<Row>,
    pub span: Span,
}

/// An input column: a path into the inputs or a rhai expression.
#[derive(Debug, Clone, PartialEq)]
pub enum InputCol {
    Path(Vec<Ident>, Span),
    Rhai(RhaiCode),
}

impl InputCol {
    pub fn span(&self) -> Span {
        match self {
            InputCol::Path(_, s) => *s,
            InputCol::Rhai(c) => c.span,
        }
    }
}

/// An output column, optionally with its ordered list of allowed values
/// (used by `priority` and `output order`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputCol {
    pub name: Ident,
    pub values: Option<Vec<Scalar>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub outputs: Vec<OutCell>,
    pub span: Span,
}

/// An input cell: one or more unary tests, any of which may match.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub tests: Vec<Test>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A unary test.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `-`: anything.
    Any(Span),
    /// A bare literal or name: equality.
    Eq(Scalar),
    Cmp(CmpOp, Scalar, Span),
    Range {
        lo: Scalar,
        lo_incl: bool,
        hi: Scalar,
        hi_incl: bool,
        span: Span,
    },
    In(Vec<Scalar>, Span),
    Not(Vec<Test>, Span),
    Rhai(RhaiCode),
}

impl Test {
    pub fn span(&self) -> Span {
        match self {
            Test::Any(s) | Test::Cmp(_, _, s) | Test::Range { span: s, .. } => *s,
            Test::In(_, s) | Test::Not(_, s) => *s,
            Test::Eq(v) => v.span(),
            Test::Rhai(c) => c.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutCell {
    /// `-`: no value.
    Null(Span),
    Value(Scalar),
}

impl OutCell {
    pub fn span(&self) -> Span {
        match self {
            OutCell::Null(s) => *s,
            OutCell::Value(v) => v.span(),
        }
    }
}

/// How a rule set picks among matching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesMode {
    /// The first matching rule in document order.
    First,
    /// Every matching rule, in document order.
    All,
}

/// `rules 名称(参数) hit first { rule … }`
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    pub name: Ident,
    pub params: Vec<Ident>,
    /// The schema of each parameter, where it names one.
    pub schemas: Vec<Option<Ident>>,
    pub mode: RulesMode,
    pub rules: Vec<Rule>,
    pub span: Span,
}

/// `rule 名称 when <rhai> then { 输出: <rhai>, … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Ident,
    pub when: RhaiCode,
    pub outputs: Vec<(Ident, RhaiCode)>,
    pub span: Span,
}

/// `calc 名称(参数) -> 元 { <rhai> }`
#[derive(Debug, Clone, PartialEq)]
pub struct Calc {
    pub name: Ident,
    pub params: Vec<Ident>,
    /// The schema of each parameter, where it names one.
    pub schemas: Vec<Option<Ident>>,
    pub returns: Option<Ident>,
    pub body: RhaiCode,
    pub span: Span,
}

/// The time zone a calendar names.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeZoneName {
    /// A fixed UTC offset, in seconds.
    Offset(i32),
    /// An IANA zone from the zone database built in (`Asia/Shanghai`).
    Iana(jiff::tz::TimeZone),
}

/// A calendar date (proleptic Gregorian, years 1–9999): a `jiff` civil
/// date, so it is always a day that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub(crate) jiff::civil::Date);

/// An inclusive range of dates (`2026-10-01..2026-10-07`, or one date).
#[derive(Debug, Clone, PartialEq)]
pub struct DateRange {
    pub start: Date,
    pub end: Date,
    pub span: Span,
}

/// `hours 周一-周五 09:00-12:00, 13:30-17:30`: working hours for a run of
/// weekdays (0 = 周一 … 6 = 周日), as seconds from midnight.
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    pub first_day: u8,
    pub last_day: u8,
    pub ranges: Vec<(u32, u32)>,
    pub span: Span,
}

/// `calendar 工作日历 { … }`: working hours, public holidays and make-up workdays.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub name: Ident,
    /// `year 2027`: this block adds one year's holidays and make-up days to
    /// the calendar `name` declared elsewhere.
    pub year: Option<(i32, Span)>,
    /// `timezone "+08:00"` or `timezone "Asia/Shanghai"`; default +08:00.
    pub timezone: Option<(TimeZoneName, Span)>,
    pub hours: Vec<Hours>,
    pub holidays: Vec<DateRange>,
    pub makeup: Vec<DateRange>,
    pub span: Span,
}

/// How a time limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ClockKind {
    /// 紧急工作时: continuous natural time.
    #[serde(rename = "紧急工作时")]
    Continuous,
    /// 工作时: working hours of the calendar only.
    #[serde(rename = "工作时")]
    WorkingHours,
    /// 工作日: whole working days of the calendar.
    #[serde(rename = "工作日")]
    WorkingDays,
}

impl ClockKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ClockKind::Continuous => "紧急工作时",
            ClockKind::WorkingHours => "工作时",
            ClockKind::WorkingDays => "工作日",
        }
    }
}

/// `微网格: 3h 紧急工作时` or `社区: 3 工作日`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// A ladder level or a state.
    pub key: Ident,
    /// `for CLASS`: the limit of this class only (others use the general one).
    pub class: Option<Ident>,
    /// Seconds for 紧急工作时/工作时, days for 工作日.
    pub amount: i64,
    pub clock: ClockKind,
    pub span: Span,
}

/// `派遣: 立案, 返工 -> 派遣` or `核查 不合格: 核查 -> 返工 restart`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub action: Ident,
    pub outcome: Option<Ident>,
    pub from: Vec<Ident>,
    pub to: Ident,
    /// Restart the level's time limit on this transition.
    pub restart: bool,
    /// `requires 党员`: only a party member may take it (党员接单).
    pub requires: Option<Ident>,
    pub span: Span,
}

/// `classify 事件分级 { class 等级, level 处置层级 }`
#[derive(Debug, Clone, PartialEq)]
pub struct Classify {
    pub item: Ident,
    pub class_output: Option<Ident>,
    pub level_output: Option<Ident>,
}

/// `workflow 事件处置 on 城市网格 { … }`: a case workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: Ident,
    pub ladder: Ident,
    /// Further ladders (`on 农村网格, 居民区网格`).
    pub more_ladders: Vec<Ident>,
    pub calendar: Option<Ident>,
    /// The schema of its report data.
    pub data: Option<Ident>,
    /// Final states that count as 办结 (empty: every final state).
    pub closed: Vec<Ident>,
    /// Feedback outcomes and how much each counts as satisfied (0–1).
    pub feedback: Vec<(Ident, Lit)>,
    /// The report field naming the case's source channel.
    pub channel: Option<Ident>,
    pub classify: Option<Classify>,
    pub start: Option<Ident>,
    pub initial: Option<Ident>,
    pub finals: Vec<Ident>,
    pub transitions: Vec<Transition>,
    pub ceiling: Vec<(Ident, Ident)>,
    pub limits: Vec<Limit>,
    pub summons: Vec<Limit>,
    /// Dispatching actions and whom they may assign (`assign { … }`).
    pub assign: Vec<AssignRule>,
    /// Requests that need approval (`requests { … }`).
    pub requests: Vec<RequestRule>,
    /// Reminders before limits run out (`remind limits at 80%`).
    pub reminders: Vec<Remind>,
    pub span: Span,
}

/// `task 燃气入户排查 on 城市网格 { to 微网格  limit 3h 紧急工作时 … }`: a
/// task sent down to every unit of a level (下派任务).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: Ident,
    pub ladder: Ident,
    pub calendar: Option<Ident>,
    /// The level of the units that do it.
    pub to: Option<Ident>,
    /// Each unit's limit to 完成 (its `key` is the task).
    pub limit: Option<Limit>,
    /// `needs count 入户数`: a count to report.
    pub count: Option<Ident>,
    /// `needs checklist [查阀门, 查软管]`: every item ticked.
    pub checklist: Vec<Ident>,
    /// `needs attachment`: a reference to a photo or a file.
    pub attachment: bool,
    /// `remind at 80%`: shares of the limit.
    pub remind: Vec<u8>,
    pub span: Span,
}

/// `intake 热线工单 for 事件处置 { … }`: an external work order mapped
/// onto a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    pub name: Ident,
    pub workflow: Ident,
    /// The channel its reports carry (`channel "12345"`).
    pub channel: Option<(String, Span)>,
    /// The order's field that identifies it (retries, duplicates, 回访).
    pub key: Option<Ident>,
    /// The order's field naming the unit.
    pub unit: Option<Ident>,
    pub fields: Vec<IntakeField>,
    /// `duplicate 类别 within 24h`: a report field and a window (seconds).
    pub duplicate: Option<(Ident, i64)>,
    /// `callback 反馈 = 回访结果 { "满意": 满意 }`: the action, the order's
    /// field, and each value's outcome.
    pub callback: Option<IntakeCallback>,
    pub span: Span,
}

/// `field 类别 = 诉求分类 { "0101": "垃圾堆放" } optional`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeField {
    /// The report field it fills.
    pub target: Ident,
    /// The order's field it reads.
    pub source: Ident,
    /// Codes and what each becomes (none: the value as it is).
    pub codes: Option<Vec<(String, Lit)>>,
    pub optional: bool,
    pub span: Span,
}

/// The hotline's 回访 result mapped onto a workflow action's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeCallback {
    pub action: Ident,
    pub source: Ident,
    pub outcomes: Vec<(String, Ident)>,
    pub span: Span,
}

/// Which time limits a reminder watches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RemindOf {
    /// The level's and state's handling limits.
    Limits,
    /// The assignee's 签收.
    Accept,
    /// The decision on a request (延期申请, 挂账).
    Approve,
    /// A summoned department's report-in.
    Summons,
}

impl RemindOf {
    pub fn as_str(&self) -> &'static str {
        match self {
            RemindOf::Limits => "limits",
            RemindOf::Accept => "accept",
            RemindOf::Approve => "approve",
            RemindOf::Summons => "summons",
        }
    }
}

/// `remind limits at 80%, 95%`: reminders when that share of a limit has
/// passed, on the limit's own clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Remind {
    pub of: RemindOf,
    /// Percentages, each 1–99.
    pub at: Vec<u8>,
    pub span: Span,
}

/// `延期申请: extend 2 工作日 approve 1 工作日` or `挂账: pause approve 1 工作日`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRule {
    pub name: Ident,
    /// `extend`: how much 批准 adds to the pending deadlines; `None`: pause.
    pub extend: Option<Limit>,
    /// How long the level above has to decide.
    pub approve: Option<Limit>,
    pub span: Span,
}

/// `派遣: 专职网格员, 微网格员 accept 1h 工作时`: the action names an
/// assignee holding one of the roles, who must 签收 within the limit (its
/// `key` is the action).
#[derive(Debug, Clone, PartialEq)]
pub struct AssignRule {
    pub action: Ident,
    /// `派遣 at 街道: …`: the roles for cases at that level only.
    pub level: Option<Ident>,
    pub roles: Vec<Ident>,
    pub accept: Option<Limit>,
    pub span: Span,
}

/// A date and time of day as written (`2026-09-14 09:00`), read in the
/// scenario's time zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalTime {
    pub date: Date,
    /// Seconds since midnight.
    pub secs: i64,
    pub span: Span,
}

/// A point on a scenario's timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// So long after the scenario's start (`at 2h30m`).
    After(i64, Span),
    /// A calendar date and time (`at 2026-09-15 10:00`).
    On(LocalTime),
}

/// A scenario: a named timeline of reports, actions and expectations
/// (in a `*.test.wg` file).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The scenario's name (a string or a name); its span is the name's.
    pub name: Ident,
    pub steps: Vec<Step>,
    pub span: Span,
}

/// An organisation fixture: a CSV/JSON file (relative to the scenario
/// file) or inline rows as rhai maps.
#[derive(Debug, Clone, PartialEq)]
pub enum OrgFixture {
    File(String, Span),
    Inline(RhaiCode),
}

/// One step of a scenario, in timeline order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Start(LocalTime),
    Timezone(String, Span),
    Org(OrgFixture),
    At(When),
    Report {
        workflow: Ident,
        alias: Ident,
        unit: Option<(String, Span)>,
        /// Who reports it (a person id); `scenario` otherwise.
        by: Option<(String, Span)>,
        data: RhaiCode,
        /// The report must be refused (`fails`), with a message containing
        /// the text when one is given (`fails "did you mean"`).
        fails: Option<Option<(String, Span)>>,
        span: Span,
    },
    Act {
        case: Ident,
        action: Ident,
        /// The outcome of a transition, or the departments of `summon` /
        /// `report_in`.
        args: Vec<Ident>,
        /// Who acts (a person id); `scenario` otherwise.
        by: Option<(String, Span)>,
        /// `to P2`: the assignee of a dispatching action or 改派.
        to: Option<(String, Span)>,
        /// `note "…"`: the reason (改派, 退单, requests, 驳回).
        note: Option<String>,
        /// The action must be refused.
        fails: bool,
        span: Span,
    },
    /// `intake 热线工单 as 甲 { … }`: an order taken in through an intake.
    Intake {
        intake: Ident,
        alias: Ident,
        order: RhaiCode,
        fails: Option<Option<(String, Span)>>,
        span: Span,
    },
    /// `callback 热线工单 { … }`: the hotline's 回访 of an order.
    Callback {
        intake: Ident,
        order: RhaiCode,
        fails: Option<Option<(String, Span)>>,
        span: Span,
    },
    /// `record P1 入户走访 20 [in UNIT]`: activity in the clock's month.
    Record {
        person: (String, Span),
        kind: Ident,
        quantity: Lit,
        unit: Option<(String, Span)>,
        span: Span,
    },
    /// `survey G1 "2026" 92.5 by 120`: a satisfaction survey result.
    Survey {
        unit: (String, Span),
        period: String,
        score: Lit,
        respondents: Lit,
        span: Span,
    },
    /// `earn R1 共享车位 3` / `redeem R1 物业费 0.25 [fails]`.
    Points {
        earn: bool,
        resident: (String, Span),
        rule: Ident,
        quantity: Lit,
        fails: bool,
        span: Span,
    },
    ExpectCase {
        case: Ident,
        checks: Vec<Check>,
        span: Span,
    },
    ExpectItem {
        item: Ident,
        input: ItemInput,
        expected: RhaiCode,
        span: Span,
    },
}

/// What a decision expectation evaluates the item with.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemInput {
    /// Arguments as rhai expressions, in parameter order.
    Args(RhaiCode),
    /// The unit of the organisation fixture with this id.
    Unit(String, Span),
}

/// One `field value` of a case expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub field: Ident,
    pub value: CheckValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckValue {
    Scalar(Scalar),
    Time(LocalTime),
    None(Span),
    List(Vec<Scalar>, Span),
}

impl CheckValue {
    pub fn span(&self) -> Span {
        match self {
            CheckValue::Scalar(s) => s.span(),
            CheckValue::Time(t) => t.span,
            CheckValue::None(s) | CheckValue::List(_, s) => *s,
        }
    }
}

/// How a subsidy total is rounded to the fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RoundMode {
    /// 四舍五入: half away from zero.
    #[serde(rename = "四舍五入")]
    HalfUp,
    /// 银行家舍入: half to even.
    #[serde(rename = "银行家舍入")]
    HalfEven,
    /// 舍去: toward zero.
    #[serde(rename = "舍去")]
    Down,
}

/// `subsidy 名称 for 角色 { component …; factor …; floor …; cap …; round …; activities … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Subsidy {
    pub name: Ident,
    /// The role of the people it pays (专职网格员, 微网格员 …).
    pub role: Ident,
    /// `(line item, calc)`: summed.
    pub components: Vec<(Ident, Ident)>,
    /// `(factor, calc, components)`: multiplies the named components, or
    /// all of them when none is named.
    pub factors: Vec<(Ident, Ident, Vec<Ident>)>,
    pub floor: Option<Lit>,
    pub cap: Option<Lit>,
    pub round: Option<(RoundMode, Span)>,
    /// Activity kinds recorded through the API for this role.
    pub activities: Vec<Ident>,
    pub span: Span,
}

/// `points 名称 { earn { 规则: 分, … } redeem { 规则: 分, … } }`
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    pub name: Ident,
    /// Points earned per unit.
    pub earn: Vec<(Ident, Lit)>,
    /// Points one unit costs (per 元 for fees, per item for prizes).
    pub redeem: Vec<(Ident, Lit)>,
    pub span: Span,
}

/// How often a scorecard scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Monthly,
    Quarterly,
    Yearly,
}

/// How an indicator's raw value becomes 0–100.
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    /// `linear A..B`: A → 0, B → 100, straight between, clamped (A > B
    /// means lower is better).
    Linear(Lit, Lit),
    /// `bands { >= 0.95: 100, >= 0.9: 80, else: 0 }`: the first that holds.
    Bands(Vec<(Option<(String, Lit)>, Lit)>),
    /// `raw`: the value as it is.
    Raw,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub name: Ident,
    pub expr: RhaiCode,
    pub weight: Lit,
    pub norm: Norm,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Penalty {
    pub name: Ident,
    /// How many (e.g. breaches).
    pub expr: RhaiCode,
    /// Points off per one.
    pub per: Lit,
    /// At most this many points off.
    pub cap: Option<Lit>,
    pub span: Span,
}

/// `scorecard 名称 for 层级|角色 quarterly { indicator …; penalty …; stars …; index … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub name: Ident,
    /// A ladder level (units) or a role (people).
    pub of: Ident,
    pub period: PeriodKind,
    pub indicators: Vec<Indicator>,
    pub penalties: Vec<Penalty>,
    /// `(stars, minimum total)`.
    pub stars: Vec<(Lit, Lit)>,
    /// A calc `(统计) -> 数` giving the 社情指数-style index, compared with
    /// the previous period.
    pub index: Option<Ident>,
    pub span: Span,
}

/// Where an award ranks.
#[derive(Debug, Clone, PartialEq)]
pub enum Within {
    City,
    /// Among the units under the same unit of this level.
    Level(Ident),
}

/// `award 名称 from 评分卡 { eligible {…}; within …; top N[%]; ties … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Award {
    pub name: Ident,
    pub scorecard: Ident,
    pub eligible: Option<RhaiCode>,
    pub within: Within,
    /// `(N, percent)`.
    pub top: Option<(Lit, bool)>,
    /// Tie breakers after the total: indicator names (higher first), or
    /// `编号` (lower first).
    pub ties: Vec<Ident>,
    pub span: Span,
}
