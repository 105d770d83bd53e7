//! `wangge evaluation …`: the `EvaluationService` from the command line
//! (surveys, scoring a unit or a level, rankings, history).

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;
use wangge_proto::v1::evaluation_service_client::EvaluationServiceClient;

use crate::client::{card, finish, show, with_server, CliError, Show, Target};
use crate::output::{Output, Table};

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
        /// The unit surveyed.
        unit: String,
        /// The period, e.g. 2026 or 2026-09.
        period: String,
        /// The mean score (a decimal number).
        score: String,
        /// How many residents answered.
        #[arg(long)]
        respondents: i64,
        #[arg(long)]
        key: String,
    },
    /// Score one unit (or person) now, with the breakdown (stores nothing).
    Score {
        /// The scorecard.
        scorecard: String,
        /// The unit (or person) scored.
        id: String,
        /// The period, e.g. 2026 or 2026-09.
        period: String,
    },
    /// Score and store every unit of the scorecard's level for a period.
    ScoreLevel {
        /// The scorecard.
        scorecard: String,
        /// The period, e.g. 2026 or 2026-09.
        period: String,
    },
    /// Rank the stored scores for an award.
    Rank {
        /// The award.
        award: String,
        /// The period, e.g. 2026 or 2026-09.
        period: String,
        /// Show only the awarded.
        #[arg(long)]
        awarded: bool,
    },
    /// A unit's stored scores across periods.
    History {
        /// The scorecard.
        scorecard: String,
        /// The unit (or person).
        id: String,
    },
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
    for line in score_table(s).render().lines() {
        println!("  {line}");
    }
}

/// A score's indicators and penalties, aligned by display width.
fn score_table(s: &v1::Score) -> Table {
    let mut t = Table::new(&["指标", "原始值", "得分", "权重", "贡献"]).right(&[
        "原始值",
        "得分",
        "权重",
        "贡献",
    ]);
    for i in &s.indicators {
        t.row([
            i.name.clone(),
            i.raw.clone(),
            i.normalised.clone(),
            i.weight.clone(),
            i.contribution.clone(),
        ]);
    }
    for p in &s.penalties {
        t.row([
            format!("− {}", p.name),
            format!("{} 次", p.count),
            String::new(),
            String::new(),
            format!("-{}", p.points),
        ]);
    }
    t
}

impl Show for v1::Score {
    fn text(&self) {
        print_score(self);
    }
    fn table(&self) -> Table {
        let mut t = score_table(self);
        t.row([
            "总分".to_string(),
            String::new(),
            String::new(),
            String::new(),
            self.total.clone(),
        ]);
        t
    }
}

const SCORE_COLUMNS: [&str; 5] = ["period", "id", "name", "total", "stars"];

impl Show for v1::HistoryResponse {
    fn text(&self) {
        for s in &self.scores {
            print_score(s);
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&SCORE_COLUMNS).right(&["total", "stars"]);
        for s in &self.scores {
            t.row([
                s.period.clone(),
                s.id.clone(),
                s.name.clone(),
                s.total.clone(),
                s.stars.to_string(),
            ]);
        }
        t
    }
}

impl Show for v1::RecordSurveyResponse {
    fn text(&self) {
        println!(
            "{}",
            if self.created {
                "recorded"
            } else {
                "already recorded"
            }
        );
    }
    fn table(&self) -> Table {
        card(&[("created", self.created.to_string())])
    }
}

impl Show for v1::ScoreLevelResponse {
    fn text(&self) {
        println!(
            "{} {}: {} scored, average {}, stars 0–5 {:?}",
            self.scorecard, self.period, self.scored, self.average, self.by_stars
        );
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["stars", "units"]).right(&["stars", "units"]);
        for (stars, n) in self.by_stars.iter().enumerate() {
            t.row([stars.to_string(), n.to_string()]);
        }
        t
    }
}

/// A ranking, filtered to the awarded with `--awarded`.
#[derive(serde::Serialize)]
struct Ranking {
    ranked: Vec<v1::Ranked>,
}

impl Show for Ranking {
    fn text(&self) {
        for x in &self.ranked {
            println!(
                "{} #{} {} {} total {} · {} star(s){}{}",
                group(x),
                x.rank,
                x.id,
                x.name,
                x.total,
                x.stars,
                if x.eligible { "" } else { " · not eligible" },
                if x.awarded { " · awarded" } else { "" }
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&[
            "group", "rank", "id", "name", "total", "stars", "eligible", "awarded",
        ])
        .right(&["rank", "total", "stars"]);
        for x in &self.ranked {
            t.row([
                group(x).to_string(),
                x.rank.to_string(),
                x.id.clone(),
                x.name.clone(),
                x.total.clone(),
                x.stars.to_string(),
                if x.eligible { "yes" } else { "no" }.to_string(),
                if x.awarded { "yes" } else { "" }.to_string(),
            ]);
        }
        t
    }
}

fn group(x: &v1::Ranked) -> &str {
    if x.group.is_empty() {
        "city"
    } else {
        &x.group
    }
}

pub fn evaluation(args: &EvaluationArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = EvaluationServiceClient::new(ch);
        finish(run(&mut c, &args.command, out).await)
    })
}

async fn run(
    c: &mut EvaluationServiceClient<crate::client::Conn>,
    command: &EvaluationCommand,
    out: Output,
) -> Result<(), CliError> {
    match command {
        EvaluationCommand::Survey {
            unit,
            period,
            score,
            respondents,
            key,
        } => {
            let r = c
                .record_survey(v1::RecordSurveyRequest {
                    unit: unit.clone(),
                    period: period.clone(),
                    score: score.clone(),
                    respondents: *respondents,
                    key: key.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        EvaluationCommand::Score {
            scorecard,
            id,
            period,
        } => {
            let r = c
                .score_unit(v1::ScoreUnitRequest {
                    scorecard: scorecard.clone(),
                    id: id.clone(),
                    period: period.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        EvaluationCommand::ScoreLevel { scorecard, period } => {
            let spinner = crate::progress::spinner(&format!("scoring {scorecard} {period}"));
            let r = c
                .score_level(v1::ScoreLevelRequest {
                    scorecard: scorecard.clone(),
                    period: period.clone(),
                })
                .await;
            spinner.finish_and_clear();
            show(out, r?.get_ref())
        }
        EvaluationCommand::Rank {
            award,
            period,
            awarded,
        } => {
            let r = c
                .rank(v1::RankRequest {
                    award: award.clone(),
                    period: period.clone(),
                })
                .await?
                .into_inner();
            let ranked = r
                .ranked
                .into_iter()
                .filter(|x| !*awarded || x.awarded)
                .collect();
            show(out, &Ranking { ranked })
        }
        EvaluationCommand::History { scorecard, id } => {
            let r = c
                .history(v1::HistoryRequest {
                    scorecard: scorecard.clone(),
                    id: id.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
    }
}
