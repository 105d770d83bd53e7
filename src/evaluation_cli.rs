//! `wangge evaluation …`: the `EvaluationService` from the command line
//! (surveys, scoring a unit or a level, rankings, history).

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;
use wangge_proto::v1::evaluation_service_client::EvaluationServiceClient;

use crate::client::{failed, with_server, Target};

#[derive(Debug, clap::Args)]
pub struct EvaluationArgs {
    #[command(subcommand)]
    command: EvaluationCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum EvaluationCommand {
    /// Record a satisfaction survey: `survey G1 2026 92.5 --respondents 120 --key s-g1`.
    Survey {
        unit: String,
        period: String,
        score: String,
        #[arg(long)]
        respondents: i64,
        #[arg(long)]
        key: String,
    },
    /// Score one unit (or person) now, with the breakdown (stores nothing).
    Score {
        scorecard: String,
        id: String,
        period: String,
    },
    /// Score and store every unit of the scorecard's level for a period.
    ScoreLevel { scorecard: String, period: String },
    /// Rank the stored scores for an award.
    Rank {
        award: String,
        period: String,
        /// Show only the awarded.
        #[arg(long)]
        awarded: bool,
    },
    /// A unit's stored scores across periods.
    History { scorecard: String, id: String },
}

fn print_score(s: &v1::Score) {
    println!(
        "{} {} {} {}: total {} · {} star(s) · policy {}",
        s.scorecard,
        s.period,
        s.id,
        s.name,
        s.total,
        s.stars,
        s.policy_version.get(..12).unwrap_or(&s.policy_version)
    );
    for i in &s.indicators {
        println!(
            "  {:<12} raw {:>10} → {:>6} × weight {:>4} = {}",
            i.name, i.raw, i.normalised, i.weight, i.contribution
        );
    }
    for p in &s.penalties {
        println!(
            "  − {:<10} {} time(s) → {} point(s) off",
            p.name, p.count, p.points
        );
    }
}

pub fn evaluation(args: &EvaluationArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut c = EvaluationServiceClient::new(ch);
        let r = match &args.command {
            EvaluationCommand::Survey {
                unit,
                period,
                score,
                respondents,
                key,
            } => c
                .record_survey(v1::RecordSurveyRequest {
                    unit: unit.clone(),
                    period: period.clone(),
                    score: score.clone(),
                    respondents: *respondents,
                    key: key.clone(),
                })
                .await
                .map(|r| {
                    println!(
                        "{}",
                        if r.into_inner().created {
                            "recorded"
                        } else {
                            "already recorded"
                        }
                    );
                }),
            EvaluationCommand::Score {
                scorecard,
                id,
                period,
            } => c
                .score_unit(v1::ScoreUnitRequest {
                    scorecard: scorecard.clone(),
                    id: id.clone(),
                    period: period.clone(),
                })
                .await
                .map(|s| print_score(&s.into_inner())),
            EvaluationCommand::ScoreLevel { scorecard, period } => c
                .score_level(v1::ScoreLevelRequest {
                    scorecard: scorecard.clone(),
                    period: period.clone(),
                })
                .await
                .map(|r| {
                    let r = r.into_inner();
                    println!(
                        "{} {}: {} scored, average {}, stars 0–5 {:?}",
                        r.scorecard, r.period, r.scored, r.average, r.by_stars
                    );
                }),
            EvaluationCommand::Rank {
                award,
                period,
                awarded,
            } => c
                .rank(v1::RankRequest {
                    award: award.clone(),
                    period: period.clone(),
                })
                .await
                .map(|r| {
                    for x in r.into_inner().ranked {
                        if *awarded && !x.awarded {
                            continue;
                        }
                        println!(
                            "{:<8} #{:<4} {} {} total {} · {} star(s){}{}",
                            if x.group.is_empty() { "city" } else { &x.group },
                            x.rank,
                            x.id,
                            x.name,
                            x.total,
                            x.stars,
                            if x.eligible { "" } else { " · not eligible" },
                            if x.awarded { " · awarded" } else { "" }
                        );
                    }
                }),
            EvaluationCommand::History { scorecard, id } => c
                .history(v1::HistoryRequest {
                    scorecard: scorecard.clone(),
                    id: id.clone(),
                })
                .await
                .map(|h| {
                    for s in h.into_inner().scores {
                        print_score(&s);
                    }
                }),
        };
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(s) => failed(s),
        }
    })
}
