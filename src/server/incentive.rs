//! `IncentiveService`: thin methods — validate, convert, call the engine's
//! `Incentives` on the blocking pool with the active policy, map the error.

use std::sync::Arc;

use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use wangge_app::access::Target;
use wangge_app::PointsEntry;
use wangge_app::{Activity, NewActivity, Settlement};
use wangge_policy::Permission;
use wangge_proto::v1;

use super::app::{blocking, App};
use super::status::{app as engine, bad_request};

pub struct Incentive(pub Arc<App>);

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn required(field: &str, v: &str) -> Result<(), Status> {
    if v.trim().is_empty() {
        Err(bad_request(field, "is required"))
    } else {
        Ok(())
    }
}

fn decimal(field: &str, v: &str) -> Result<Decimal, Status> {
    v.trim()
        .parse::<Decimal>()
        .map_err(|_| bad_request(field, format!("`{v}` is not a decimal number")))
}

fn new_activity(r: v1::RecordActivityRequest) -> Result<NewActivity, Status> {
    required("person", &r.person)?;
    required("kind", &r.kind)?;
    required("period", &r.period)?;
    required("key", &r.key)?;
    Ok(NewActivity {
        quantity: decimal("quantity", &r.quantity)?,
        person: r.person,
        kind: r.kind,
        period: r.period,
        unit: some(&r.unit),
        key: r.key,
        note: some(&r.note),
        correction: r.correction,
    })
}

fn activity(a: &Activity) -> v1::Activity {
    v1::Activity {
        person: a.person.clone(),
        kind: a.kind.clone(),
        quantity: a.quantity.to_string(),
        period: a.period.clone(),
        unit: a.unit.clone().unwrap_or_default(),
        key: a.key.clone(),
        note: a.note.clone().unwrap_or_default(),
        recorded_at: a.recorded_at,
        recorded_by: a.recorded_by.clone().unwrap_or_default(),
    }
}

fn line(l: &wangge_policy::LineItem) -> v1::LineItem {
    v1::LineItem {
        name: l.name.clone(),
        calc: l.calc.clone(),
        value: l.value.to_string(),
        params_json: serde_json::to_string(&*l.params).unwrap_or_default(),
    }
}

pub fn settlement(s: &Settlement) -> v1::Settlement {
    let b = &s.breakdown;
    v1::Settlement {
        id: s.id.clone(),
        period: s.period.clone(),
        person: s.person.clone(),
        name: s.name.clone(),
        seq: s.seq,
        scheme: b.scheme.clone(),
        role: b.role.clone(),
        policy_version: b.policy_version.clone(),
        components: b.components.iter().map(line).collect(),
        factors: b.factors.iter().map(line).collect(),
        subtotal: b.subtotal.to_string(),
        exact: b.exact.to_string(),
        rounded: b.rounded.to_string(),
        rounding: serde_json::to_value(b.rounding)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        limited_by: b.limited_by.clone().unwrap_or_default(),
        total: b.total.to_string(),
        stats_json: s.stats.as_str().to_string(),
        settled_at: s.settled_at,
        corrects: s.corrects.clone().unwrap_or_default(),
        reason: s.reason.clone().unwrap_or_default(),
        settled_by: s.settled_by.clone().unwrap_or_default(),
    }
}

fn entry(e: &PointsEntry, created: bool) -> v1::PointsEntry {
    v1::PointsEntry {
        resident: e.resident.clone(),
        seq: e.seq,
        kind: e.kind.clone(),
        rule: e.rule.clone(),
        quantity: e.quantity.to_string(),
        points: e.points,
        balance: e.balance,
        key: e.key.clone(),
        note: e.note.clone().unwrap_or_default(),
        at: e.at,
        policy_version: e.policy_version.clone(),
        by: e.by.clone().unwrap_or_default(),
        created,
    }
}

impl Incentive {
    fn now(&self) -> i64 {
        self.0.cases.clock().now()
    }
}

#[tonic::async_trait]
impl v1::incentive_service_server::IncentiveService for Incentive {
    async fn record_activity(
        &self,
        req: Request<v1::RecordActivityRequest>,
    ) -> Result<Response<v1::RecordActivityResponse>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(
                "IncentiveService/RecordActivity",
                req,
                move |caller, req| async move {
                    let a = new_activity(req)?;
                    app.may_for_person(
                        &caller,
                        Permission::Activity,
                        &a.person,
                        a.unit.as_deref(),
                    )?;
                    let stamp = app.stamp(&caller, now);
                    let (a, created) = blocking(move || {
                        engine(
                            app.incentives
                                .record_activity(&app.cases.policy(), a, stamp),
                        )
                    })
                    .await?;
                    Ok(Response::new(v1::RecordActivityResponse {
                        activity: Some(activity(&a)),
                        created,
                    }))
                },
            )
            .await
    }

    async fn record_activities(
        &self,
        req: Request<v1::RecordActivitiesRequest>,
    ) -> Result<Response<v1::RecordActivitiesResponse>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(
                "IncentiveService/RecordActivities",
                req,
                move |caller, req| async move {
                    let batch = req
                        .activities
                        .into_iter()
                        .enumerate()
                        .map(|(i, a)| {
                            new_activity(a).map_err(|s| {
                                bad_request(&format!("activities[{i}]"), s.message().to_string())
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    for a in &batch {
                        app.may_for_person(
                            &caller,
                            Permission::Activity,
                            &a.person,
                            a.unit.as_deref(),
                        )?;
                    }
                    let stamp = app.stamp(&caller, now);
                    let results = blocking(move || {
                        engine(
                            app.incentives
                                .record_activities(&app.cases.policy(), batch, stamp),
                        )
                    })
                    .await?;
                    Ok(Response::new(v1::RecordActivitiesResponse {
                        results: results
                            .into_iter()
                            .map(|r| match r {
                                Ok((a, created)) => v1::ActivityResult {
                                    ok: Some(v1::RecordActivityResponse {
                                        activity: Some(activity(&a)),
                                        created,
                                    }),
                                    error: String::new(),
                                },
                                Err(e) => v1::ActivityResult {
                                    ok: None,
                                    error: e.to_string(),
                                },
                            })
                            .collect(),
                    }))
                },
            )
            .await
    }

    async fn list_activities(
        &self,
        req: Request<v1::ListActivitiesRequest>,
    ) -> Result<Response<v1::ListActivitiesResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "IncentiveService/ListActivities",
                req,
                move |caller, r| async move {
                    app.may_for_person(&caller, Permission::ReadSettlements, &r.person, None)?;
                    required("period", &r.period)?;
                    let reader = app.clone();
                    let list = blocking(move || {
                        engine(
                            reader
                                .incentives
                                .activities(&r.period, some(&r.person).as_deref()),
                        )
                    })
                    .await?;
                    // A period's whole list: only the people the caller reaches.
                    Ok(Response::new(v1::ListActivitiesResponse {
                        activities: list
                            .iter()
                            .filter(|a| app.reads_records_of(&caller, &a.person))
                            .map(activity)
                            .collect(),
                    }))
                },
            )
            .await
    }

    async fn preview(
        &self,
        req: Request<v1::PreviewRequest>,
    ) -> Result<Response<v1::Settlement>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(
                "IncentiveService/Preview",
                req,
                move |caller, r| async move {
                    app.may_for_person(&caller, Permission::ReadSettlements, &r.person, None)?;
                    required("person", &r.person)?;
                    required("period", &r.period)?;
                    let s = blocking(move || {
                        engine(app.incentives.preview(
                            &app.cases.policy(),
                            &r.person,
                            &r.period,
                            now,
                        ))
                    })
                    .await?;
                    Ok(Response::new(settlement(&s)))
                },
            )
            .await
    }

    async fn settle(
        &self,
        req: Request<v1::SettleRequest>,
    ) -> Result<Response<v1::SettleResponse>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(
                "IncentiveService/Settle",
                req,
                move |caller, r| async move {
                    if r.persons.is_empty() {
                        app.may(&caller, Permission::Settle, Target::Anywhere)?;
                    }
                    for p in &r.persons {
                        app.may_for_person(&caller, Permission::Settle, p, None)?;
                    }
                    let stamp = app.stamp(&caller, now);
                    required("period", &r.period)?;
                    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                    let metrics = app.metrics.clone();
                    let s = blocking(move || {
                        engine(app.incentives.settle(
                            &app.cases.policy(),
                            &r.period,
                            &r.persons,
                            stamp,
                            threads,
                        ))
                    })
                    .await?;
                    metrics.settled(s.created);
                    Ok(Response::new(v1::SettleResponse {
                        period: s.period.clone(),
                        created: s.created,
                        existing: s.existing,
                        total: format!("{:.2}", s.total),
                        settlements: s.settlements.iter().map(settlement).collect(),
                    }))
                },
            )
            .await
    }

    async fn correct(
        &self,
        req: Request<v1::CorrectRequest>,
    ) -> Result<Response<v1::Settlement>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(
                "IncentiveService/Correct",
                req,
                move |caller, r| async move {
                    app.may_for_person(&caller, Permission::Settle, &r.person, None)?;
                    let stamp = app.stamp(&caller, now);
                    required("period", &r.period)?;
                    required("person", &r.person)?;
                    required("reason", &r.reason)?;
                    let s = blocking(move || {
                        engine(app.incentives.correct(
                            &app.cases.policy(),
                            &r.period,
                            &r.person,
                            &r.reason,
                            stamp,
                        ))
                    })
                    .await?;
                    Ok(Response::new(settlement(&s)))
                },
            )
            .await
    }

    async fn list_settlements(
        &self,
        req: Request<v1::ListSettlementsRequest>,
    ) -> Result<Response<v1::ListSettlementsResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "IncentiveService/ListSettlements",
                req,
                move |caller, r| async move {
                    app.may_for_person(&caller, Permission::ReadSettlements, &r.person, None)?;
                    required("period", &r.period)?;
                    let start: usize = if r.page_token.is_empty() {
                        0
                    } else {
                        r.page_token.parse().map_err(|_| {
                            bad_request("page_token", "is not a token this server gave")
                        })?
                    };
                    let size = if r.page_size == 0 {
                        100
                    } else {
                        r.page_size.min(1000)
                    } as usize;
                    let reader = app.clone();
                    let list = blocking(move || {
                        engine(
                            reader
                                .incentives
                                .settlements(&r.period, some(&r.person).as_deref()),
                        )
                    })
                    .await?;
                    // A period's whole list: only the people the caller reaches.
                    let list: Vec<_> = list
                        .into_iter()
                        .filter(|s| app.reads_records_of(&caller, &s.person))
                        .collect();
                    let page: Vec<v1::Settlement> =
                        list.iter().skip(start).take(size).map(settlement).collect();
                    let next = start + page.len();
                    Ok(Response::new(v1::ListSettlementsResponse {
                        settlements: page,
                        next_page_token: if next < list.len() {
                            next.to_string()
                        } else {
                            String::new()
                        },
                    }))
                },
            )
            .await
    }

    async fn earn_points(
        &self,
        req: Request<v1::PointsRequest>,
    ) -> Result<Response<v1::PointsEntry>, Status> {
        self.points("IncentiveService/EarnPoints", req, true).await
    }

    async fn redeem_points(
        &self,
        req: Request<v1::PointsRequest>,
    ) -> Result<Response<v1::PointsEntry>, Status> {
        self.points("IncentiveService/RedeemPoints", req, false)
            .await
    }

    async fn get_balance(
        &self,
        req: Request<v1::GetBalanceRequest>,
    ) -> Result<Response<v1::Balance>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "IncentiveService/GetBalance",
                req,
                move |caller, r| async move {
                    app.own_or(&caller, &r.resident, Permission::Points)?;
                    required("resident", &r.resident)?;
                    let resident = r.resident.clone();
                    let points =
                        blocking(move || engine(app.incentives.balance(&r.resident))).await?;
                    Ok(Response::new(v1::Balance { resident, points }))
                },
            )
            .await
    }

    async fn points_history(
        &self,
        req: Request<v1::PointsHistoryRequest>,
    ) -> Result<Response<v1::PointsHistoryResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "IncentiveService/PointsHistory",
                req,
                move |caller, r| async move {
                    app.own_or(&caller, &r.resident, Permission::Points)?;
                    required("resident", &r.resident)?;
                    let list =
                        blocking(move || engine(app.incentives.history(&r.resident))).await?;
                    Ok(Response::new(v1::PointsHistoryResponse {
                        entries: list.iter().map(|e| entry(e, true)).collect(),
                    }))
                },
            )
            .await
    }
}

impl Incentive {
    async fn points(
        &self,
        method: &'static str,
        req: Request<v1::PointsRequest>,
        earn: bool,
    ) -> Result<Response<v1::PointsEntry>, Status> {
        let app = self.0.clone();
        let now = self.now();
        self.0
            .call(method, req, move |caller, r| async move {
                // A resident redeems their own points; anything else is
                // 发放积分 (a worker earning or redeeming for a resident).
                if earn {
                    app.may(&caller, Permission::Points, Target::Anywhere)?;
                } else {
                    app.own_or(&caller, &r.resident, Permission::Points)?;
                }
                let stamp = app.stamp(&caller, now);
                required("resident", &r.resident)?;
                required("rule", &r.rule)?;
                required("key", &r.key)?;
                let quantity = decimal("quantity", &r.quantity)?;
                let (e, created) = blocking(move || {
                    let set = app.cases.policy();
                    let note = some(&r.note);
                    engine(if earn {
                        app.incentives.earn(
                            &set,
                            &r.resident,
                            &r.rule,
                            quantity,
                            &r.key,
                            note,
                            stamp,
                        )
                    } else {
                        app.incentives.redeem(
                            &set,
                            &r.resident,
                            &r.rule,
                            quantity,
                            &r.key,
                            note,
                            stamp,
                        )
                    })
                })
                .await?;
                Ok(Response::new(entry(&e, created)))
            })
            .await
    }
}
