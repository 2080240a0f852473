//! API key secrets: how they are made, shown and recognised. Only the SHA-256 hash of a
//! secret is ever stored; the secret is shown once, when the key is issued.

use base64::Engine as _;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::domain::ApiKey;
use crate::domain::audit::AuditContext;
use crate::domain::ids::IdKind;
use crate::domain::scopes::{self, Scope};
use crate::store::{NewApiKey, Store, StoreError};

/// Every secret starts with this.
pub const SECRET_PREFIX: &str = "tenzo_pk_";
/// Random bytes per secret (256 bits), written as 43 URL-safe base64 characters.
const SECRET_BYTES: usize = 32;
const SECRET_BODY_CHARS: usize = 43;
/// How much of the secret is kept to tell keys apart (`tenzo_pk_` plus four characters).
const DISPLAY_PREFIX_CHARS: usize = SECRET_PREFIX.len() + 4;

/// A key that was just issued, with its secret. The secret cannot be recovered later.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A new random secret.
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a secret: lower-case hex SHA-256. Secrets carry 256 bits of entropy, so
/// a slow password hash would add cost and no safety.
pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest.iter() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    hex
}

/// Whether `token` has the shape of one of our secrets.
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(SECRET_PREFIX).is_some_and(|body| {
        body.len() == SECRET_BODY_CHARS && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What a new key is to be.
#[derive(Debug, Clone)]
pub struct KeyRequest<'a> {
    pub org_id: &'a str,
    pub name: &'a str,
    pub expires_at: Option<Timestamp>,
    pub scopes: Vec<Scope>,
}

/// Issues a key and returns it with its secret; `who` is recorded in the audit log.
pub async fn issue(
    store: &dyn Store,
    request: KeyRequest<'_>,
    now: Timestamp,
    who: AuditContext,
) -> Result<IssuedKey, StoreError> {
    let KeyRequest { org_id, name, expires_at, scopes } = request;
    let secret = generate_secret().map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    let key = store
        .create_api_key(
            NewApiKey {
                id: IdKind::ApiKey.new_id(),
                org_id: org_id.to_owned(),
                name: name.to_owned(),
                prefix: secret[..DISPLAY_PREFIX_CHARS].to_owned(),
                secret_hash: hash_secret(&secret),
                created_at: now,
                expires_at,
                scopes: scopes::normalized(scopes),
            },
            who,
        )
        .await?;
    Ok(IssuedKey { key, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_well_formed_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert!(is_well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(!is_well_formed("tenzo_pk_short"));
        assert!(!is_well_formed(&a.replace("tenzo_pk_", "tenzo_sk_")));
    }
}
