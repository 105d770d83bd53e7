//! `EvaluationService`: thin methods — validate, convert, call the engine's
//! `Evaluation` on the blocking pool with the active policy, map the error.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use wangge_app::access::Target;
use wangge_app::Survey;
use wangge_policy::Permission;
use wangge_policy::{Ranked, Score};
use wangge_proto::v1;

use super::app::{blocking, App};
use super::status::{app as engine, bad_request};

pub struct Evaluations(pub Arc<App>);

fn required(field: &str, v: &str) -> Result<(), Status> {
    if v.trim().is_empty() {
        Err(bad_request(field, "is required"))
    } else {
        Ok(())
    }
}

pub fn score(s: &Score) -> v1::Score {
    v1::Score {
        scorecard: s.scorecard.to_string(),
        period: s.period.to_string(),
        id: s.id.clone(),
        name: s.name.clone(),
        indicators: s
            .indicators
            .iter()
            .map(|i| v1::IndicatorScore {
                name: i.name.clone(),
                raw: i.raw.to_string(),
                normalised: i.normalised.to_string(),
                weight: i.weight.to_string(),
                contribution: i.contribution.to_string(),
            })
            .collect(),
        penalties: s
            .penalties
            .iter()
            .map(|p| v1::PenaltyScore {
                name: p.name.clone(),
                count: p.count.to_string(),
                points: p.points.to_string(),
            })
            .collect(),
        total: s.total.to_string(),
        stars: u32::from(s.stars),
        stats_json: s.stats.as_str().to_string(),
        policy_version: s.policy_version.to_string(),
    }
}

fn ranked(r: &Ranked) -> v1::Ranked {
    v1::Ranked {
        id: r.id.clone(),
        name: r.name.clone(),
        group: r.group.clone(),
        rank: r.rank,
        total: r.total.to_string(),
        stars: u32::from(r.stars),
        eligible: r.eligible,
        awarded: r.awarded,
    }
}

#[tonic::async_trait]
impl v1::evaluation_service_server::EvaluationService for Evaluations {
    async fn record_survey(
        &self,
        req: Request<v1::RecordSurveyRequest>,
    ) -> Result<Response<v1::RecordSurveyResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "EvaluationService/RecordSurvey",
                req,
                move |caller, r| async move {
                    required("unit", &r.unit)?;
                    required("period", &r.period)?;
                    required("key", &r.key)?;
                    app.may(&caller, Permission::Survey, Target::Unit(&r.unit))?;
                    let score = r.score.trim().parse().map_err(|_| {
                        bad_request("score", format!("`{}` is not a number", r.score))
                    })?;
                    let survey = Survey {
                        recorded_by: app.stamp(&caller, 0).by,
                        unit: r.unit,
                        period: r.period,
                        score,
                        respondents: r.respondents,
                        key: r.key,
                    };
                    let (_, created) =
                        blocking(move || engine(app.evaluation.record_survey(survey))).await?;
                    Ok(Response::new(v1::RecordSurveyResponse { created }))
                },
            )
            .await
    }

    async fn score_unit(
        &self,
        req: Request<v1::ScoreUnitRequest>,
    ) -> Result<Response<v1::Score>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "EvaluationService/ScoreUnit",
                req,
                move |caller, r| async move {
                    required("scorecard", &r.scorecard)?;
                    required("id", &r.id)?;
                    required("period", &r.period)?;
                    app.may_for_scored(&caller, &r.id)?;
                    let s = blocking(move || {
                        engine(app.evaluation.score_one(
                            &app.cases.policy(),
                            &r.scorecard,
                            &r.id,
                            &r.period,
                        ))
                    })
                    .await?;
                    Ok(Response::new(score(&s)))
                },
            )
            .await
    }

    async fn score_level(
        &self,
        req: Request<v1::ScoreLevelRequest>,
    ) -> Result<Response<v1::ScoreLevelResponse>, Status> {
        let app = self.0.clone();
        let now = self.0.cases.clock().now();
        self.0
            .call(
                "EvaluationService/ScoreLevel",
                req,
                move |caller, r| async move {
                    required("scorecard", &r.scorecard)?;
                    required("period", &r.period)?;
                    app.may(&caller, Permission::Score, Target::Anywhere)?;
                    let s = blocking(move || {
                        engine(app.evaluation.score_level(
                            &app.cases.policy(),
                            &r.scorecard,
                            &r.period,
                            now,
                        ))
                    })
                    .await?;
                    Ok(Response::new(v1::ScoreLevelResponse {
                        scorecard: s.scorecard,
                        period: s.period,
                        scored: s.scored,
                        by_stars: s.by_stars.to_vec(),
                        average: s.average.to_string(),
                        policy_version: s.policy_version,
                    }))
                },
            )
            .await
    }

    async fn rank(
        &self,
        req: Request<v1::RankRequest>,
    ) -> Result<Response<v1::RankResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("EvaluationService/Rank", req, move |caller, r| async move {
                required("award", &r.award)?;
                required("period", &r.period)?;
                app.may(&caller, Permission::Score, Target::Anywhere)?;
                let list = blocking(move || {
                    engine(
                        app.evaluation
                            .rank(&app.cases.policy(), &r.award, &r.period),
                    )
                })
                .await?;
                Ok(Response::new(v1::RankResponse {
                    ranked: list.iter().map(ranked).collect(),
                }))
            })
            .await
    }

    async fn history(
        &self,
        req: Request<v1::HistoryRequest>,
    ) -> Result<Response<v1::HistoryResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "EvaluationService/History",
                req,
                move |caller, r| async move {
                    required("scorecard", &r.scorecard)?;
                    required("id", &r.id)?;
                    app.may_for_scored(&caller, &r.id)?;
                    let list =
                        blocking(move || engine(app.evaluation.history(&r.scorecard, &r.id)))
                            .await?;
                    Ok(Response::new(v1::HistoryResponse {
                        scores: list.iter().map(score).collect(),
                    }))
                },
            )
            .await
    }

    async fn list_scores(
        &self,
        req: Request<v1::ListScoresRequest>,
    ) -> Result<Response<v1::ListScoresResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "EvaluationService/ListScores",
                req,
                move |caller, r| async move {
                    required("scorecard", &r.scorecard)?;
                    required("period", &r.period)?;
                    let unit = r.unit.trim().to_string();
                    if !unit.is_empty() {
                        app.may(&caller, Permission::Score, Target::Unit(&unit))?;
                    }
                    let reader = app.clone();
                    let list =
                        blocking(move || engine(reader.evaluation.scores(&r.scorecard, &r.period)))
                            .await?;
                    let dir = app.directory()?;
                    let under = |id: &str| {
                        unit.is_empty()
                            || dir.within(id, &unit)
                            || dir
                                .person(id)
                                .and_then(|p| p.unit.as_deref())
                                .is_some_and(|u| dir.within(u, &unit))
                    };
                    let mut scores: Vec<v1::Score> = list
                        .iter()
                        .filter(|s| under(&s.id) && app.may_for_scored(&caller, &s.id).is_ok())
                        .map(score)
                        .collect();
                    scores.sort_by(|a, b| a.id.cmp(&b.id));
                    Ok(Response::new(v1::ListScoresResponse { scores }))
                },
            )
            .await
    }
}
