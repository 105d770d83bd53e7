//! Authentication at the edge: bearer tokens (JWT) verified against the
//! configured keys (an HMAC secret for development; RS256/ES256 public keys
//! or a JWKS file in production), with issuer, audience, expiry and
//! not-before checked and a small clock-skew allowance; or a client
//! certificate's subject mapped to a service account (mutual TLS).
//! Verified tokens are cached until they expire.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tonic::Status;
use wangge_app::access::{Caller, Principal};

/// `[auth]` of `wangge.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Refuse calls without a valid token (or client certificate).
    #[serde(default)]
    pub required: bool,
    /// HS256 secret (development and tests); `WANGGE_AUTH_HMAC_SECRET`.
    pub hmac_secret: Option<String>,
    /// PEM public keys (RSA for RS256, EC P-256 for ES256).
    #[serde(default)]
    pub public_keys: Vec<PathBuf>,
    /// A JWKS file (an identity provider's keys, by `kid`).
    pub jwks: Option<PathBuf>,
    /// Required `iss` [default: wangge].
    pub issuer: Option<String>,
    /// Required `aud` [default: wangge].
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds [default: 60].
    pub leeway_secs: Option<u64>,
}

/// The claims wangge reads and `wangge token issue` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// A person's id in the registry, or `service:NAME`.
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default)]
    pub nbf: u64,
    #[serde(default)]
    pub iat: u64,
}

/// The issuer and audience when the config names none.
pub const DEFAULT_ISSUER: &str = "wangge";
pub const DEFAULT_AUDIENCE: &str = "wangge";
/// Verified tokens kept; past this the cache starts again.
const CACHE_MAX: usize = 10_000;

/// A key and the algorithms it verifies.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Verifies tokens; one per server.
pub struct Authenticator {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    leeway: u64,
    /// Client certificate subject (CN) → principal (`service:NAME` or a person).
    client_identities: HashMap<String, String>,
    cache: Mutex<HashMap<String, (Principal, u64)>>,
}

/// A key that cannot be loaded, named.
pub fn key_error(what: &str, path: &std::path::Path, why: impl std::fmt::Display) -> String {
    format!("cannot load {what} `{}`: {why}", path.display())
}

fn pem_key(path: &std::path::Path) -> Result<Key, String> {
    let pem = std::fs::read(path).map_err(|e| key_error("public key", path, e))?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(Key {
            kid: None,
            key,
            algorithms: vec![Algorithm::RS256],
        });
    }
    DecodingKey::from_ec_pem(&pem)
        .map(|key| Key {
            kid: None,
            key,
            algorithms: vec![Algorithm::ES256],
        })
        .map_err(|e| {
            key_error(
                "public key",
                path,
                format!("neither RSA nor EC P-256 PEM ({e})"),
            )
        })
}

fn jwks_keys(path: &std::path::Path) -> Result<Vec<Key>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| key_error("JWKS", path, e))?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&text).map_err(|e| key_error("JWKS", path, e))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error("JWKS", path, e))?;
        let algorithms = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => vec![Algorithm::RS256],
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => vec![Algorithm::ES256],
            _ => continue,
        };
        out.push(Key {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        });
    }
    if out.is_empty() {
        return Err(key_error("JWKS", path, "it has no RSA or EC key"));
    }
    Ok(out)
}

fn unauthenticated(message: impl Into<String>) -> Status {
    let mut s = Status::unauthenticated(message);
    s.metadata_mut().insert(
        "www-authenticate",
        tonic::metadata::MetadataValue::from_static("Bearer realm=\"wangge\""),
    );
    s
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Authenticator {
    /// Loads every configured key; a key that does not load is an error.
    pub fn new(
        config: &AuthConfig,
        client_identities: HashMap<String, String>,
    ) -> Result<Authenticator, String> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.hmac_secret {
            if secret.len() < 16 {
                return Err("`auth.hmac_secret` must be at least 16 bytes".into());
            }
            keys.push(Key {
                kid: None,
                key: DecodingKey::from_secret(secret.as_bytes()),
                algorithms: vec![Algorithm::HS256],
            });
        }
        for p in &config.public_keys {
            keys.push(pem_key(p)?);
        }
        if let Some(p) = &config.jwks {
            keys.extend(jwks_keys(p)?);
        }
        if keys.is_empty() && client_identities.is_empty() {
            return Err(
                "authentication is required but no key is configured: set `auth.hmac_secret` \
                 (development), `auth.public_keys` or `auth.jwks`"
                    .into(),
            );
        }
        Ok(Authenticator {
            keys,
            issuer: config
                .issuer
                .clone()
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            audience: config
                .audience
                .clone()
                .unwrap_or_else(|| DEFAULT_AUDIENCE.into()),
            leeway: config.leeway_secs.unwrap_or(60),
            client_identities,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The principal of a call: its bearer token, else its client
    /// certificate's subject; neither is UNAUTHENTICATED.
    pub fn authenticate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        client_subject: Option<&str>,
    ) -> Result<Caller, Status> {
        let principal = match metadata.get("authorization") {
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| unauthenticated("the `authorization` header is not text"))?;
                let token = v
                    .strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .ok_or_else(|| {
                        unauthenticated("the `authorization` header is not `Bearer TOKEN`")
                    })?;
                self.verify(token.trim())?
            }
            None => match client_subject.and_then(|s| self.client_identities.get(s)) {
                Some(id) => principal_of(id),
                None if client_subject.is_some() => {
                    return Err(unauthenticated(format!(
                        "the client certificate `{}` is not mapped to an identity \
                         (`tls.client_identities`)",
                        client_subject.unwrap_or_default()
                    )))
                }
                None => {
                    return Err(unauthenticated(
                        "this server requires authentication: send `authorization: Bearer \
                         TOKEN` (`--token` or `WANGGE_TOKEN`; `wangge token issue` makes one)",
                    ))
                }
            },
        };
        Ok(Caller {
            principal,
            on_behalf: None,
        })
    }

    /// Verifies a token (signature, iss, aud, exp, nbf), cached until it expires.
    pub fn verify(&self, token: &str) -> Result<Principal, Status> {
        let now = now_secs();
        if let Ok(cache) = self.cache.lock() {
            if let Some((p, exp)) = cache.get(token) {
                if now <= exp.saturating_add(self.leeway) {
                    return Ok(p.clone());
                }
            }
        }
        let header = decode_header(token)
            .map_err(|e| unauthenticated(format!("the token cannot be read: {e}")))?;
        let mut last = None;
        for key in self.keys.iter().filter(|k| {
            k.algorithms.contains(&header.alg)
                && (header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        }) {
            let mut v = Validation::new(header.alg);
            v.algorithms = key.algorithms.clone();
            v.set_issuer(&[&self.issuer]);
            v.set_audience(&[&self.audience]);
            v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            v.validate_nbf = true;
            v.leeway = self.leeway;
            match decode::<Claims>(token, &key.key, &v) {
                Ok(data) => {
                    let p = principal_of(&data.claims.sub);
                    if let Ok(mut cache) = self.cache.lock() {
                        if cache.len() >= CACHE_MAX {
                            cache.clear();
                        }
                        cache.insert(token.to_string(), (p.clone(), data.claims.exp));
                    }
                    return Ok(p);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => unauthenticated(format!("the token is not valid: {}", describe(&e))),
            None => unauthenticated(format!(
                "no configured key verifies `{:?}` tokens",
                header.alg
            )),
        })
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "it has expired".into(),
        K::ImmatureSignature => "it is not valid yet (`nbf`)".into(),
        K::InvalidSignature => "its signature does not verify (wrong key)".into(),
        K::InvalidAudience => "its audience (`aud`) is not this server's".into(),
        K::InvalidIssuer => "its issuer (`iss`) is not the configured one".into(),
        K::MissingRequiredClaim(c) => format!("it has no `{c}` claim"),
        _ => e.to_string(),
    }
}

/// `service:NAME` is a service account; anything else a person's id.
pub fn principal_of(sub: &str) -> Principal {
    match sub.strip_prefix("service:") {
        Some(name) => Principal::Service(name.to_string()),
        None => Principal::Person(sub.to_string()),
    }
}

/// A development token signed with `secret` (HS256).
pub fn issue(
    secret: &str,
    sub: &str,
    ttl_secs: u64,
    issuer: &str,
    audience: &str,
) -> Result<String, String> {
    let now = now_secs();
    let claims = Claims {
        sub: sub.to_string(),
        iss: issuer.to_string(),
        aud: audience.to_string(),
        exp: now + ttl_secs,
        nbf: now.saturating_sub(1),
        iat: now,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

/// The subject CN of a DER certificate.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const SECRET: &str = "a-development-secret";

    fn claims(sub: &str, aud: &str, exp: i64, nbf: i64) -> Claims {
        let now = now_secs() as i64;
        Claims {
            sub: sub.into(),
            iss: DEFAULT_ISSUER.into(),
            aud: aud.into(),
            exp: (now + exp) as u64,
            nbf: (now + nbf) as u64,
            iat: now as u64,
        }
    }

    fn hs(c: &Claims, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn hmac() -> Authenticator {
        let config = AuthConfig {
            required: true,
            hmac_secret: Some(SECRET.into()),
            ..AuthConfig::default()
        };
        Authenticator::new(&config, HashMap::new()).unwrap()
    }

    #[test]
    fn a_token_is_verified_for_its_key_issuer_audience_and_times() {
        let a = hmac();
        let ok = hs(&claims("P1", "wangge", 600, -1), SECRET);
        assert_eq!(a.verify(&ok).unwrap(), Principal::Person("P1".into()));
        let svc = hs(&claims("service:热线12345", "wangge", 600, -1), SECRET);
        assert_eq!(
            a.verify(&svc).unwrap(),
            Principal::Service("热线12345".into())
        );
        let refused = |t: &str, why: &str| {
            let e = a.verify(t).unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unauthenticated);
            assert!(e.message().contains(why), "{}", e.message());
        };
        refused(
            &hs(&claims("P1", "wangge", -3600, -7200), SECRET),
            "expired",
        );
        refused(
            &hs(&claims("P1", "wangge", 7200, 3600), SECRET),
            "not valid yet",
        );
        refused(&hs(&claims("P1", "other", 600, -1), SECRET), "audience");
        refused(
            &hs(&claims("P1", "wangge", 600, -1), "another-secret-entirely"),
            "signature",
        );
        refused("not.a.token", "cannot be read");
        // Within the skew allowance (60 s) an expiry just past still passes.
        let skewed = hs(&claims("P2", "wangge", -10, -100), SECRET);
        assert!(a.verify(&skewed).is_ok());
    }

    #[test]
    fn es256_tokens_verify_against_a_pem_public_key_and_a_jwks_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = dir.path().join("idp.pem");
        std::fs::write(&pem, key.public_key_pem()).unwrap();
        // The JWKS of the same key: x and y of the uncompressed point.
        let raw = key.public_key_raw();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64(&raw[1..33]), "y": b64(&raw[33..65])
        }]});
        let jwks_path = dir.path().join("jwks.json");
        std::fs::write(&jwks_path, jwks.to_string()).unwrap();
        let signer = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        let token = encode(&header, &claims("P7", "wangge", 600, -1), &signer).unwrap();
        for config in [
            AuthConfig {
                public_keys: vec![pem.clone()],
                ..AuthConfig::default()
            },
            AuthConfig {
                jwks: Some(jwks_path.clone()),
                ..AuthConfig::default()
            },
        ] {
            let a = Authenticator::new(&config, HashMap::new()).unwrap();
            assert_eq!(a.verify(&token).unwrap(), Principal::Person("P7".into()));
            // An HS256 token is not accepted where only the EC key is configured.
            let hs256 = hs(&claims("P7", "wangge", 600, -1), SECRET);
            assert_eq!(
                a.verify(&hs256).unwrap_err().code(),
                tonic::Code::Unauthenticated
            );
        }
    }

    #[test]
    fn a_development_token_issued_by_the_cli_verifies() {
        let t = issue(SECRET, "P1", 3600, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        assert_eq!(hmac().verify(&t).unwrap(), Principal::Person("P1".into()));
    }
}
