//! `wangge incentive …` and `wangge points …`: the `IncentiveService` from
//! the command line (activity, previews, settlements; residents' points).

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;
use wangge_proto::v1::incentive_service_client::IncentiveServiceClient;

use crate::client::{failed, time, with_server, Target};

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
        person: String,
        kind: String,
        quantity: String,
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
        period: String,
        #[arg(long)]
        person: Option<String>,
    },
    /// What a person would be paid for a month, line by line (stores nothing).
    Preview { person: String, period: String },
    /// Settle a month for the named persons, or for everyone a scheme pays.
    Settle {
        period: String,
        persons: Vec<String>,
    },
    /// Recompute one settlement as a new record linked to the old one.
    Correct {
        period: String,
        person: String,
        #[arg(long)]
        reason: String,
    },
    /// Stored settlements of a month (of one person).
    Settlements {
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
        resident: String,
        rule: String,
        quantity: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Redeem points: `redeem R001 物业费 5.00 --key fee-2026-09` (5 元 of the fee).
    Redeem {
        resident: String,
        rule: String,
        quantity: String,
        #[arg(long)]
        key: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// A resident's balance.
    Balance { resident: String },
    /// A resident's ledger.
    History { resident: String },
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
    for l in &s.components {
        println!(
            "  {:<12} {:>12} 元   {} {}",
            l.name, l.value, l.calc, l.params_json
        );
    }
    for l in &s.factors {
        println!(
            "  × {:<10} {:>12}     {} {}",
            l.name, l.value, l.calc, l.params_json
        );
    }
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

pub fn incentive(args: &IncentiveArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut c = IncentiveServiceClient::new(ch);
        let r = match &args.command {
            IncentiveCommand::Activity {
                person,
                kind,
                quantity,
                period,
                key,
                unit,
                note,
                correction,
            } => c
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
                .await
                .map(|r| {
                    let r = r.into_inner();
                    if let Some(a) = r.activity {
                        println!(
                            "{} {} {} {} in {} ({})",
                            if r.created {
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
                }),
            IncentiveCommand::Activities { period, person } => c
                .list_activities(v1::ListActivitiesRequest {
                    period: period.clone(),
                    person: person.clone().unwrap_or_default(),
                })
                .await
                .map(|r| {
                    for a in r.into_inner().activities {
                        println!(
                            "{} {} {} {} {} ({})",
                            a.period, a.person, a.kind, a.quantity, a.unit, a.key
                        );
                    }
                }),
            IncentiveCommand::Preview { person, period } => c
                .preview(v1::PreviewRequest {
                    person: person.clone(),
                    period: period.clone(),
                })
                .await
                .map(|r| print_settlement(&r.into_inner())),
            IncentiveCommand::Settle { period, persons } => c
                .settle(v1::SettleRequest {
                    period: period.clone(),
                    persons: persons.clone(),
                })
                .await
                .map(|r| {
                    let r = r.into_inner();
                    println!(
                        "{}: {} settled now, {} settled before, total {} 元",
                        r.period, r.created, r.existing, r.total
                    );
                    for s in &r.settlements {
                        print_settlement(s);
                    }
                }),
            IncentiveCommand::Correct {
                period,
                person,
                reason,
            } => c
                .correct(v1::CorrectRequest {
                    period: period.clone(),
                    person: person.clone(),
                    reason: reason.clone(),
                })
                .await
                .map(|r| print_settlement(&r.into_inner())),
            IncentiveCommand::Settlements { period, person } => {
                let mut token = String::new();
                loop {
                    match c
                        .list_settlements(v1::ListSettlementsRequest {
                            period: period.clone(),
                            person: person.clone().unwrap_or_default(),
                            page_size: 500,
                            page_token: token.clone(),
                        })
                        .await
                    {
                        Ok(r) => {
                            let r = r.into_inner();
                            for s in &r.settlements {
                                println!(
                                    "{} {} {} 元 (settled {})",
                                    s.id,
                                    s.name,
                                    s.total,
                                    time(s.settled_at)
                                );
                            }
                            if r.next_page_token.is_empty() {
                                break Ok(());
                            }
                            token = r.next_page_token;
                        }
                        Err(s) => break Err(s),
                    }
                }
            }
        };
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(s) => failed(s),
        }
    })
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

pub fn points(args: &PointsArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut c = IncentiveServiceClient::new(ch);
        let r = match &args.command {
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
                let r = if matches!(args.command, PointsCommand::Earn { .. }) {
                    c.earn_points(req).await
                } else {
                    c.redeem_points(req).await
                };
                r.map(|e| print_entry(&e.into_inner()))
            }
            PointsCommand::Balance { resident } => c
                .get_balance(v1::GetBalanceRequest {
                    resident: resident.clone(),
                })
                .await
                .map(|b| {
                    let b = b.into_inner();
                    println!("{}: {} points", b.resident, b.points);
                }),
            PointsCommand::History { resident } => c
                .points_history(v1::PointsHistoryRequest {
                    resident: resident.clone(),
                })
                .await
                .map(|h| {
                    for e in h.into_inner().entries {
                        print_entry(&e);
                    }
                }),
        };
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(s) => failed(s),
        }
    })
}
