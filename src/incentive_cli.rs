//! `wangge incentive …` and `wangge points …`: the `IncentiveService` from
//! the command line (activity, previews, settlements; residents' points).

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;
use wangge_proto::v1::incentive_service_client::IncentiveServiceClient;

use crate::client::{card, finish, show, time, with_server, CliError, Show, Target};
use crate::output::{Output, Table};

#[derive(Debug, clap::Args)]
pub struct IncentiveArgs {
    #[command(subcommand)]
    command: IncentiveCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum IncentiveCommand {
    /// Record activity: `activity P001 入户走访 12 --period 2026-09 --key visit-0915`.
    Activity {
        /// The grid worker (person id).
        person: String,
        /// The activity kind the subsidy scheme counts (入户走访 …).
        kind: String,
        /// How many (a decimal number).
        quantity: String,
        /// The month, e.g. 2026-09.
        #[arg(long)]
        period: String,
        /// Makes retries safe (required).
        #[arg(long)]
        key: String,
        #[arg(long)]
        unit: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// Late activity for a month already settled for the person: it
        /// counts once the settlement is corrected (`incentive correct`).
        #[arg(long)]
        correction: bool,
    },
    /// List recorded activity of a month (of one person).
    Activities {
        /// The month, e.g. 2026-09.
        period: String,
        #[arg(long)]
        person: Option<String>,
    },
    /// What a person would be paid for a month, line by line (stores nothing).
    Preview {
        /// The grid worker (person id).
        person: String,
        /// The month, e.g. 2026-09.
        period: String,
    },
    /// Settle a month for everyone a scheme pays, or for the persons named
    /// with `--person`.
    Settle {
        /// The month, e.g. 2026-09 (it must have ended).
        period: String,
        /// Only these persons (repeatable).
        #[arg(long = "person")]
        persons: Vec<String>,
    },
    /// Recompute one settlement as a new record linked to the old one.
    Correct {
        /// The grid worker (person id).
        person: String,
        /// The settled month, e.g. 2026-09.
        period: String,
        /// Why (kept with the new record).
        #[arg(long)]
        reason: String,
    },
    /// Stored settlements of a month (of one person).
    Settlements {
        /// The month, e.g. 2026-09.
        period: String,
        #[arg(long)]
        person: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct PointsArgs {
    #[command(subcommand)]
    command: PointsCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum PointsCommand {
    /// Earn points: `earn R001 共享车位 1 --key share-0915`.
    Earn {
        /// The resident (id).
        resident: String,
        /// The points rule (共享车位 …).
        rule: String,
        /// How many (a decimal number).
        quantity: String,
        /// Makes retries safe (required).
        #[arg(long)]
        key: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Redeem points: `redeem R001 物业费 5.00 --key fee-2026-09` (5 元 of the fee).
    Redeem {
        /// The resident (id).
        resident: String,
        /// The redemption rule (物业费 …).
        rule: String,
        /// How much (a decimal number).
        quantity: String,
        /// Makes retries safe (required).
        #[arg(long)]
        key: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// A resident's balance.
    Balance {
        /// The resident (id).
        resident: String,
    },
    /// A resident's ledger.
    History {
        /// The resident (id).
        resident: String,
    },
}

fn print_settlement(s: &v1::Settlement) {
    let id = if s.id.is_empty() { "preview" } else { &s.id };
    println!(
        "{id}: {} {} ({}) · {} · policy {}",
        s.person,
        s.name,
        s.role,
        s.scheme,
        s.policy_version.get(..12).unwrap_or(&s.policy_version)
    );
    print!("{}", indent(&lines_table(s).render()));
    let limited = if s.limited_by.is_empty() {
        String::new()
    } else {
        format!(" (by the {})", s.limited_by)
    };
    println!(
        "  subtotal {} · exact {} · {} {} → total {} 元{limited}",
        s.subtotal, s.exact, s.rounding, s.rounded, s.total
    );
    println!("  figures {}", s.stats_json);
    if !s.corrects.is_empty() {
        println!("  corrects {}: {}", s.corrects, s.reason);
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// A settlement's components and factors, aligned by display width.
fn lines_table(s: &v1::Settlement) -> Table {
    let mut t = Table::new(&["项目", "金额/系数", "计算", "参数"]).right(&["金额/系数"]);
    for l in &s.components {
        t.row([
            l.name.clone(),
            format!("{} 元", l.value),
            l.calc.clone(),
            l.params_json.clone(),
        ]);
    }
    for l in &s.factors {
        t.row([
            format!("× {}", l.name),
            l.value.clone(),
            l.calc.clone(),
            l.params_json.clone(),
        ]);
    }
    t
}

impl Show for v1::Settlement {
    fn text(&self) {
        print_settlement(self);
    }
    fn table(&self) -> Table {
        let mut t = lines_table(self);
        t.row([
            "合计".to_string(),
            format!("{} 元", self.total),
            self.rounding.clone(),
            String::new(),
        ]);
        t
    }
}

const SETTLEMENT_COLUMNS: [&str; 7] =
    ["id", "person", "name", "role", "scheme", "total", "settled"];

fn settlement_row(s: &v1::Settlement) -> [String; 7] {
    [
        s.id.clone(),
        s.person.clone(),
        s.name.clone(),
        s.role.clone(),
        s.scheme.clone(),
        s.total.clone(),
        time(s.settled_at),
    ]
}

impl Show for v1::SettleResponse {
    fn text(&self) {
        println!(
            "{}: {} settled now, {} settled before, total {} 元",
            self.period, self.created, self.existing, self.total
        );
        for s in &self.settlements {
            print_settlement(s);
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&SETTLEMENT_COLUMNS).right(&["total"]);
        for s in &self.settlements {
            t.row(settlement_row(s));
        }
        t
    }
}

/// Every page of a month's settlements.
#[derive(serde::Serialize)]
struct Settlements {
    settlements: Vec<v1::Settlement>,
}

impl Show for Settlements {
    fn text(&self) {
        for s in &self.settlements {
            println!(
                "{} {} {} 元 (settled {})",
                s.id,
                s.name,
                s.total,
                time(s.settled_at)
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&SETTLEMENT_COLUMNS).right(&["total"]);
        for s in &self.settlements {
            t.row(settlement_row(s));
        }
        t
    }
}

impl Show for v1::RecordActivityResponse {
    fn text(&self) {
        if let Some(a) = &self.activity {
            println!(
                "{} {} {} {} in {} ({})",
                if self.created {
                    "recorded"
                } else {
                    "already recorded"
                },
                a.person,
                a.kind,
                a.quantity,
                a.period,
                a.key
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = activities_table(self.activity.iter());
        if !self.created {
            t.row(["(already recorded)".to_string()]);
        }
        t
    }
}

fn activities_table<'a>(list: impl Iterator<Item = &'a v1::Activity>) -> Table {
    let mut t =
        Table::new(&["period", "person", "kind", "quantity", "unit", "key"]).right(&["quantity"]);
    for a in list {
        t.row([
            a.period.clone(),
            a.person.clone(),
            a.kind.clone(),
            a.quantity.clone(),
            a.unit.clone(),
            a.key.clone(),
        ]);
    }
    t
}

impl Show for v1::ListActivitiesResponse {
    fn text(&self) {
        for a in &self.activities {
            println!(
                "{} {} {} {} {} ({})",
                a.period, a.person, a.kind, a.quantity, a.unit, a.key
            );
        }
    }
    fn table(&self) -> Table {
        activities_table(self.activities.iter())
    }
}

pub fn incentive(args: &IncentiveArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = IncentiveServiceClient::new(ch);
        finish(run_incentive(&mut c, &args.command, out).await)
    })
}

async fn run_incentive(
    c: &mut IncentiveServiceClient<crate::client::Conn>,
    command: &IncentiveCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        IncentiveCommand::Activity {
            person,
            kind,
            quantity,
            period,
            key,
            unit,
            note,
            correction,
        } => {
            let r = c
                .record_activity(v1::RecordActivityRequest {
                    person: person.clone(),
                    kind: kind.clone(),
                    quantity: quantity.clone(),
                    period: period.clone(),
                    unit: unit.clone().unwrap_or_default(),
                    key: key.clone(),
                    note: note.clone().unwrap_or_default(),
                    correction: *correction,
                })
                .await?;
            show(out, r.get_ref())
        }
        IncentiveCommand::Activities { period, person } => {
            let r = c
                .list_activities(v1::ListActivitiesRequest {
                    period: period.clone(),
                    person: person.clone().unwrap_or_default(),
                })
                .await?;
            show(out, r.get_ref())
        }
        IncentiveCommand::Preview { person, period } => {
            let r = c
                .preview(v1::PreviewRequest {
                    person: person.clone(),
                    period: period.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        IncentiveCommand::Settle { period, persons } => {
            let spinner = crate::progress::spinner(&format!("settling {period}"));
            let r = c
                .settle(v1::SettleRequest {
                    period: period.clone(),
                    persons: persons.clone(),
                })
                .await;
            spinner.finish_and_clear();
            show(out, r?.get_ref())
        }
        IncentiveCommand::Correct {
            person,
            period,
            reason,
        } => {
            let r = c
                .correct(v1::CorrectRequest {
                    period: period.clone(),
                    person: person.clone(),
                    reason: reason.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        IncentiveCommand::Settlements { period, person } => {
            let mut all = Settlements {
                settlements: Vec::new(),
            };
            let mut request = v1::ListSettlementsRequest {
                period: period.clone(),
                person: person.clone().unwrap_or_default(),
                page_size: 500,
                page_token: String::new(),
            };
            loop {
                let r = c.list_settlements(request.clone()).await?.into_inner();
                all.settlements.extend(r.settlements);
                if r.next_page_token.is_empty() {
                    break;
                }
                request.page_token = r.next_page_token;
            }
            show(out, &all)
        }
    }
}

fn print_entry(e: &v1::PointsEntry) {
    println!(
        "{}#{} {} {} × {} = {:+} → balance {}{}",
        e.resident,
        e.seq,
        e.kind,
        e.rule,
        e.quantity,
        e.points,
        e.balance,
        if e.created {
            ""
        } else {
            " (retry: the first entry)"
        }
    );
}

fn entries_table<'a>(list: impl Iterator<Item = &'a v1::PointsEntry>) -> Table {
    let mut t = Table::new(&[
        "resident", "#", "kind", "rule", "quantity", "points", "balance", "key",
    ])
    .right(&["#", "quantity", "points", "balance"]);
    for e in list {
        t.row([
            e.resident.clone(),
            e.seq.to_string(),
            e.kind.clone(),
            e.rule.clone(),
            e.quantity.clone(),
            format!("{:+}", e.points),
            e.balance.to_string(),
            e.key.clone(),
        ]);
    }
    t
}

impl Show for v1::PointsEntry {
    fn text(&self) {
        print_entry(self);
    }
    fn table(&self) -> Table {
        entries_table(std::iter::once(self))
    }
}

impl Show for v1::PointsHistoryResponse {
    fn text(&self) {
        for e in &self.entries {
            print_entry(e);
        }
    }
    fn table(&self) -> Table {
        entries_table(self.entries.iter())
    }
}

impl Show for v1::Balance {
    fn text(&self) {
        println!("{}: {} points", self.resident, self.points);
    }
    fn table(&self) -> Table {
        card(&[
            ("resident", self.resident.clone()),
            ("points", self.points.to_string()),
        ])
    }
}

pub fn points(args: &PointsArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = IncentiveServiceClient::new(ch);
        finish(run_points(&mut c, &args.command, out).await)
    })
}

async fn run_points(
    c: &mut IncentiveServiceClient<crate::client::Conn>,
    command: &PointsCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        PointsCommand::Earn {
            resident,
            rule,
            quantity,
            key,
            note,
        }
        | PointsCommand::Redeem {
            resident,
            rule,
            quantity,
            key,
            note,
        } => {
            let req = v1::PointsRequest {
                resident: resident.clone(),
                rule: rule.clone(),
                quantity: quantity.clone(),
                key: key.clone(),
                note: note.clone().unwrap_or_default(),
            };
            let r = if matches!(command, PointsCommand::Earn { .. }) {
                c.earn_points(req).await?
            } else {
                c.redeem_points(req).await?
            };
            show(out, r.get_ref())
        }
        PointsCommand::Balance { resident } => {
            let r = c
                .get_balance(v1::GetBalanceRequest {
                    resident: resident.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        PointsCommand::History { resident } => {
            let r = c
                .points_history(v1::PointsHistoryRequest {
                    resident: resident.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
    }
}
