//! `AuditService`: the audit log over gRPC (`查看审计`).

use tonic::{Request, Response, Status};
use wangge_app::access::Target;
use wangge_app::audit::{AuditEntry, AuditQuery};
use wangge_policy::Permission;
use wangge_proto::v1;

use super::app::{blocking, App};
use super::status::{bad_request, status};

pub struct Audit(pub std::sync::Arc<App>);

fn entry(e: AuditEntry) -> v1::AuditEntry {
    let r = e.record;
    v1::AuditEntry {
        seq: e.seq,
        at: r.at,
        who: r.who,
        on_behalf: r.on_behalf.unwrap_or_default(),
        method: r.method,
        keys: r.keys.into_iter().collect(),
        peer: r.peer.unwrap_or_default(),
        request_id: r.request_id,
        outcome: r.outcome,
        message: r.message.unwrap_or_default(),
        prev: e.prev,
        hash: e.hash,
    }
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[tonic::async_trait]
impl v1::audit_service_server::AuditService for Audit {
    async fn list_entries(
        &self,
        req: Request<v1::ListEntriesRequest>,
    ) -> Result<Response<v1::ListEntriesResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "AuditService/ListEntries",
                req,
                move |caller, r| async move {
                    app.may(&caller, Permission::Audit, Target::Anywhere)?;
                    let limit = match r.page_size {
                        0 => 100,
                        n @ 1..=1000 => n as usize,
                        _ => return Err(bad_request("page_size", "must be 1 to 1000")),
                    };
                    let q = AuditQuery {
                        who: some(r.who),
                        method: some(r.method),
                        outcome: some(r.outcome),
                        from: (r.from != 0).then_some(r.from),
                        to: (r.to != 0).then_some(r.to),
                        after: r.after_seq,
                        limit,
                    };
                    let list = blocking(move || app.audit.list(&q).map_err(status)).await?;
                    let next = if list.len() == limit {
                        list.last().map_or(0, |e| e.seq)
                    } else {
                        0
                    };
                    Ok(Response::new(v1::ListEntriesResponse {
                        entries: list.into_iter().map(entry).collect(),
                        next_after_seq: next,
                    }))
                },
            )
            .await
    }

    async fn verify(
        &self,
        req: Request<v1::VerifyRequest>,
    ) -> Result<Response<v1::VerifyResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("AuditService/Verify", req, move |caller, _| async move {
                app.may(&caller, Permission::Audit, Target::Anywhere)?;
                let v = blocking(move || app.audit.verify().map_err(status)).await?;
                Ok(Response::new(v1::VerifyResponse {
                    entries: v.entries,
                    head: v.head,
                    ok: v.broken.is_none(),
                    broken_seq: v.broken.as_ref().map_or(0, |b| b.seq),
                    reason: v.broken.map(|b| b.reason).unwrap_or_default(),
                }))
            })
            .await
    }
}
