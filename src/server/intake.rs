//! IntakeService: external work orders (a 12345 工单) in, cases out, and
//! the hotline's 回访 back. Thin: parse, authorize at the order's unit or
//! case, call `wangge_app::Intake` off the async threads, map the answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use wangge_app::access::{Need, Target};
use wangge_policy::{Actor, Permission};
use wangge_proto::v1;

use super::app::{blocking, App};
use super::convert::some;
use super::status::{bad_request, status};

pub struct IntakeApi(pub Arc<App>);

fn order(r: &v1::IntakeRequest) -> Result<(String, serde_json::Value), Status> {
    let name = some(&r.intake).ok_or_else(|| bad_request("intake", "is required"))?;
    let order = wangge_app::parse_object("order_json", &r.order_json).map_err(status)?;
    Ok((name, order))
}

#[tonic::async_trait]
impl v1::intake_service_server::IntakeService for IntakeApi {
    async fn submit(
        &self,
        req: Request<v1::IntakeRequest>,
    ) -> Result<Response<v1::IntakeResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("IntakeService/Submit", req, move |caller, r| async move {
                let (name, order) = order(&r)?;
                let set = app.cases.policy();
                let unit = app.intake.unit_of(&set, &name, &order).map_err(status)?;
                app.may(&caller, Permission::Report, Target::Unit(&unit))?;
                let (actor, on_behalf) = app.acting(&caller, r.actor)?;
                let worker = app.clone();
                let taken = blocking(move || {
                    (worker.intake.submit(&set, &name, &order, &actor, on_behalf)).map_err(status)
                })
                .await?;
                Ok(Response::new(v1::IntakeResponse {
                    case: Some(app.shown_case(&caller, taken.case)?),
                    created: taken.created,
                    duplicate_of: taken.duplicate_of.unwrap_or(0),
                }))
            })
            .await
    }

    async fn callback(
        &self,
        req: Request<v1::IntakeRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let app = self.0.clone();
        self.0
            .call("IntakeService/Callback", req, move |caller, r| async move {
                let (name, order) = order(&r)?;
                let set = app.cases.policy();
                let action = wangge_app::Intake::callback_action(&set, &name)
                    .map_err(status)?
                    .ok_or_else(|| {
                        bad_request("intake", format!("intake `{name}` declares no `callback`"))
                    })?;
                let case = app.intake.case_of(&set, &name, &order).map_err(status)?;
                let need = Need::Act {
                    workflow: &case.workflow,
                    action: &action,
                };
                app.authorize(&caller, need, Target::Case(&case))?;
                let (actor, on_behalf) = app.acting(&caller, r.actor)?;
                let who = Actor {
                    actor,
                    on_behalf,
                    note: None,
                };
                let worker = app.clone();
                let case = blocking(move || {
                    (worker.intake.callback(&set, &name, &order, &who)).map_err(status)
                })
                .await?;
                Ok(Response::new(app.shown_case(&caller, case)?))
            })
            .await
    }
}
