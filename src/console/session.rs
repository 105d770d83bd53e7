//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie,
//! the user's name, their token (what every query carries), a CSRF token
//! for their forms, and an expiry (8 hours of inactivity).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// The cookie's name.
const COOKIE: &str = "wangge_session";

/// A session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// One signed-in user.
#[derive(Clone)]
pub struct Session {
    pub name: String,
    /// Who the token was verified to be (what the pages ask the policy
    /// about, e.g. the actions this user may take on a case).
    pub caller: wangge_app::access::Caller,
    token: Option<String>,
    pub csrf: String,
    seen: Instant,
}

impl Session {
    pub fn new(caller: wangge_app::access::Caller, token: Option<String>) -> Session {
        Session {
            name: caller.name(),
            caller,
            token,
            csrf: random_hex(),
            seen: Instant::now(),
        }
    }

    /// Whether a form's CSRF token is this session's (in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// A gRPC request carrying this user's token.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(t) = &self.token {
            if let Ok(v) = format!("Bearer {t}").parse() {
                req.metadata_mut().insert("authorization", v);
            }
        }
        req
    }
}

/// 32 random bytes as hex (session ids and CSRF tokens).
fn random_hex() -> String {
    let mut b = [0u8; 32];
    // The OS's generator; without it there is no safe session, so fail loudly.
    if let Err(e) = getrandom::fill(&mut b) {
        tracing::error!(error = %e, "no random numbers from the OS");
        return String::new();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every open session.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Arc<Mutex<Session>>>>,
}

impl Sessions {
    /// Opens `session`; its id (for the cookie).
    pub fn open(&self, session: Session) -> (String, Session) {
        let id = random_hex();
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, s| s.lock().is_ok_and(|s| s.seen.elapsed() < IDLE));
            if !id.is_empty() {
                open.insert(id.clone(), Arc::new(Mutex::new(session.clone())));
            }
        }
        (id, session)
    }

    /// The session the request's cookie names, if open (renewed).
    pub fn of(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie_value(headers)?;
        let open = self.open.lock().ok()?;
        let s = open.get(&id)?;
        let mut s = s.lock().ok()?;
        if s.seen.elapsed() >= IDLE {
            return None;
        }
        s.seen = Instant::now();
        Some((id, s.clone()))
    }

    pub fn close(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The Set-Cookie value of a new session.
pub fn cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The Set-Cookie value that ends a session in the browser.
pub fn expired_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}
