//! The operator console ([9/10], first slice): HTML pages served by
//! `wangge serve` on `--console-listen` (off unless given), every asset
//! inside the binary. Pages are rendered on the server (maud); each query
//! goes through the same in-process gRPC service methods the API answers
//! with, carrying the signed-in user's token, so permissions, scoping,
//! masking and the audit log are the API's own. Sessions live in the
//! server's memory behind an HttpOnly, SameSite=Strict cookie; every
//! action posts a per-session CSRF token.

mod board;
pub mod https;
mod pages;
mod policy;
mod reports;
mod scores;
mod session;
mod work;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::server::app::App;
use crate::server::auth::Authenticator;
use crate::server::services::Cases;
use session::{Session, Sessions};

/// What the console's handlers share.
pub struct Console {
    cases: Cases,
    auth: Option<Arc<Authenticator>>,
    sessions: Sessions,
    board: Arc<board::Board>,
    /// Cookies are marked `Secure` when the console is reached over TLS.
    secure_cookies: bool,
}

impl Console {
    /// The console over `app`; starts the board's feed reader (call
    /// within the runtime).
    pub fn new(app: Arc<App>, secure_cookies: bool) -> Console {
        let board = board::Board::new(app.clone());
        tokio::spawn(board.clone().follow());
        Console {
            auth: app.auth.clone(),
            cases: Cases(app),
            sessions: Sessions::default(),
            board,
            secure_cookies,
        }
    }

    fn app(&self) -> &Arc<App> {
        &self.cases.0
    }
}

/// Serves the console on `listener` (plain TCP, or [`https::HttpsListener`])
/// until the server stops.
pub async fn serve<L>(listener: L, console: Arc<Console>)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/todo", get(todo))
        .route("/cases", get(case_list))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/act", post(act))
        .route("/org", get(scores::org))
        .route("/org/score", get(scores::score))
        .route("/awards", get(scores::awards))
        .route("/policy", get(policy::versions))
        .route("/policy/diff", get(policy::diff))
        .route("/policy/replay", get(policy::replay))
        .route("/tasks", get(work::tasks))
        .route("/settlements", get(work::settlements))
        .route("/reports", get(reports::show))
        .route("/reports.csv", get(reports::download_csv))
        .route("/reports.xlsx", get(reports::download_xlsx))
        .route("/board", get(board_page))
        .route("/board/events", get(board_events))
        .route("/assets/console.css", get(css))
        .route("/assets/board.js", get(board_js))
        .with_state(console)
        .layer(axum::middleware::map_response(safe_headers));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the console stopped");
    }
}

/// The address the console listens on, said at start.
pub fn announce(addr: SocketAddr, https: bool) {
    let scheme = if https { "https" } else { "http" };
    println!("wangge console on {scheme}://{addr}/");
}

/// Headers every answer carries: scripts, styles and frames from the
/// console itself only, no content sniffing, no referrer beyond it.
async fn safe_headers(mut r: Response) -> Response {
    use axum::http::HeaderValue;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
        .into_response()
}

async fn board_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("board.js"),
    )
        .into_response()
}

/// 出格超时: the board as the user's scope sees it.
async fn board_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((_, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match c.app().read_scope(&s.caller) {
        Ok(scope) => {
            let now = c.app().cases.clock().now();
            pages::board(&s, &c.board.view(&scope, now)).into_response()
        }
        Err(status) => refused(&format!("无法查看出格超时统计：{}", status.message())),
    }
}

/// The board's updates as server-sent events: the table, re-rendered for
/// this user's scope whenever the counts change (at most twice a second).
async fn board_events(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let Some((_, s)) = c.sessions.of(&headers) else {
        return (StatusCode::UNAUTHORIZED, "请先登录").into_response();
    };
    let scope = match c.app().read_scope(&s.caller) {
        Ok(scope) => scope,
        Err(status) => return refused(&format!("无法查看出格超时统计：{}", status.message())),
    };
    let mut changed = c.board.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, std::convert::Infallible>>(4);
    let console = c.clone();
    tokio::spawn(async move {
        while changed.changed().await.is_ok() {
            let now = console.app().cases.clock().now();
            let html = pages::board_table(&console.board.view(&scope, now)).into_string();
            if tx.send(Ok(Event::default().data(html))).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn home(State(c): State<Arc<Console>>, headers: HeaderMap) -> Redirect {
    match c.sessions.of(&headers) {
        Some(_) => Redirect::to("/todo"),
        None => Redirect::to("/login"),
    }
}

async fn login_page(State(c): State<Arc<Console>>) -> maud::Markup {
    pages::login(c.auth.is_some(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// Signs in with a token (verified as the API verifies it), or — with no
/// authentication configured — as the local operator.
async fn login(State(c): State<Arc<Console>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim().to_string();
    let (caller, token) = match &c.auth {
        Some(auth) => match auth.verify(&token) {
            Ok(principal) => (
                wangge_app::access::Caller {
                    principal,
                    on_behalf: None,
                },
                Some(token),
            ),
            Err(s) => {
                let page = pages::login(true, Some(&format!("登录失败：{}", s.message())));
                return (StatusCode::UNAUTHORIZED, page).into_response();
            }
        },
        None => (wangge_app::access::Caller::operator(), None),
    };
    let (id, _) = c.sessions.open(Session::new(caller, token));
    let cookie = session::cookie(&id, c.secure_cookies);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/todo")).into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some((id, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if !s.csrf_matches(&form.csrf) {
        return refused("表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。");
    }
    c.sessions.close(&id);
    (
        [(
            header::SET_COOKIE,
            session::expired_cookie(c.secure_cookies),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

/// 待办: the signed-in user's open work, nearest deadline first.
async fn todo(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((_, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let req = s.request(wangge_proto::v1::TodoRequest {
        page_size: 200,
        ..Default::default()
    });
    let answer = wangge_proto::v1::case_service_server::CaseService::todo(&c.cases, req).await;
    match answer {
        Ok(r) => pages::todo(&s, &r.into_inner()).into_response(),
        Err(status) => refused(&format!("无法读取待办：{}", status.message())),
    }
}

/// The filters of the case list, as the form sends them.
#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub level: String,
    #[serde(default)]
    pub workflow: String,
    /// 来源: the source channel.
    #[serde(default)]
    pub channel: String,
    /// `on` when ticked.
    #[serde(default)]
    pub breached: String,
    #[serde(default)]
    pub overdue: String,
    /// Only cases whose next deadline is within this many hours.
    #[serde(default)]
    pub due_within_hours: String,
    #[serde(default)]
    pub page_token: String,
}

/// 案件: the cases the user may see, filtered, a page at a time (the
/// server pages; the next page's token rides in the link).
async fn case_list(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    use wangge_proto::v1::case_service_server::CaseService;
    let Some((_, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let now = c.cases.0.cases.clock().now();
    let within = match q.due_within_hours.trim() {
        "" => None,
        h => match h.parse::<u32>() {
            Ok(h) => Some(i64::from(h) * 3600),
            Err(_) => return refused(&format!("“{h}” 不是小时数。")),
        },
    };
    let req = s.request(wangge_proto::v1::ListCasesRequest {
        unit: q.unit.trim().to_string(),
        state: q.state.trim().to_string(),
        class: q.class.trim().to_string(),
        level: q.level.trim().to_string(),
        workflow: q.workflow.trim().to_string(),
        channel: q.channel.trim().to_string(),
        breached: q.breached == "on",
        overdue: q.overdue == "on",
        deadline_from: if within.is_some() { 1 } else { 0 },
        deadline_to: within.map_or(0, |w| now.saturating_add(w)),
        page_size: 50,
        page_token: q.page_token.clone(),
        ..Default::default()
    });
    match CaseService::list(&c.cases, req).await {
        Ok(r) => pages::case_list(&s, &q, &r.into_inner(), now).into_response(),
        Err(status) => refused(&format!("无法列出案件：{}", status.message())),
    }
}

/// A case: its facts, deadlines, timeline with each decision's
/// explanation, and the actions this user may take as buttons. A case
/// outside the user's reach is refused as the API refuses it.
async fn case_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    use wangge_proto::v1::case_service_server::CaseService;
    let Some((_, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let Ok(id) = id.parse::<u64>() else {
        return refused(&format!("`{id}` 不是案件编号。"));
    };
    let got = CaseService::get(&c.cases, s.request(wangge_proto::v1::GetCaseRequest { id })).await;
    let case = match got {
        Ok(r) => r.into_inner(),
        Err(status) => return refused(&format!("无法查看案件 {id}：{}", status.message())),
    };
    let events =
        match CaseService::events(&c.cases, s.request(wangge_proto::v1::GetCaseRequest { id }))
            .await
        {
            Ok(r) => r.into_inner().events,
            Err(status) => {
                return refused(&format!("无法读取案件 {id} 的经过：{}", status.message()))
            }
        };
    let app = c.cases.0.clone();
    let caller = s.caller.clone();
    let actions = tokio::task::spawn_blocking(move || {
        app.cases
            .get(id)
            .map(|domain| app.actions_for(&caller, &domain))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let actions = match actions {
        Ok(a) => a,
        Err(e) => return refused(&format!("无法读取案件 {id} 可办理的操作：{e}")),
    };
    let now = c.cases.0.cases.clock().now();
    pages::case(&s, &case, &events, &actions, now).into_response()
}

#[derive(Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    note: String,
}

/// Takes an action on a case (`反馈 满意`: the action and its outcome),
/// through the API with the user's token, against the version the page
/// showed; refused with the API's reason, nothing changed.
async fn act(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    use wangge_proto::v1::case_service_server::CaseService;
    let Some((_, s)) = c.sessions.of(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if !s.csrf_matches(&form.csrf) {
        return refused("表单已失效（缺少或错误的 CSRF 令牌），请刷新页面后重试。");
    }
    let Ok(id) = id.parse::<u64>() else {
        return refused(&format!("`{id}` 不是案件编号。"));
    };
    let (action, outcome) = match form.action.trim().split_once(' ') {
        Some((a, o)) => (a.to_string(), o.trim().to_string()),
        None => (form.action.trim().to_string(), String::new()),
    };
    let req = s.request(wangge_proto::v1::ActRequest {
        id,
        action,
        outcome,
        expected_version: form.version,
        note: form.note,
        ..Default::default()
    });
    match CaseService::act(&c.cases, req).await {
        Ok(_) => Redirect::to(&format!("/cases/{id}")).into_response(),
        Err(status) => refused(&format!("未能办理：{}", status.message())),
    }
}

/// The signed-in user, as a handler's argument: a request without a
/// live session is sent to the sign-in page instead.
pub struct User(pub Session);

impl axum::extract::FromRequestParts<Arc<Console>> for User {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        c: &Arc<Console>,
    ) -> Result<User, Response> {
        c.sessions
            .of(&parts.headers)
            .map(|(_, s)| User(s))
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// A refusal page: the message, nothing changed.
fn refused(message: &str) -> Response {
    (StatusCode::FORBIDDEN, pages::refused(message)).into_response()
}
