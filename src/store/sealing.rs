//! Webhook signing secrets encrypted at rest.
//!
//! Each secret is sealed on its own with XChaCha20-Poly1305 under a 256-bit key the operator
//! holds outside the store: a fresh random 192-bit nonce per value, and the endpoint's id as
//! associated data, so a sealed value copied onto another endpoint does not open. A sealed value
//! names the key that sealed it (`sealed:v1:<key id>:<base64url nonce and ciphertext>`), so
//! several keys can be held while secrets move from one to the next (`public-api secrets
//! rotate-key`).
//!
//! The store keeps one check value sealed under its current key. Opening a store with keys
//! that cannot open it is refused before anything is written: a wrong key is an error at
//! start-up, not undeliverable webhooks later.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::StoreError;
use super::encoding::{from_json, to_json};
use super::rules::StoredSecret;

/// Random bytes per key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const SEALED_PREFIX: &str = "sealed:v1:";
/// What the check value seals, and the associated data it is bound to.
const CHECK_PLAINTEXT: &str = "public-api encryption check";
const CHECK_CONTEXT: &str = "public-api:encryption-check";
/// The key file `serve` creates in a data directory when no key is given.
pub const DATA_DIR_KEY_FILE: &str = "encryption.key";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    #[error("{0}")]
    BadKey(String),
    #[error("no encryption key was given, and this store's webhook secrets need one")]
    NoKey,
    #[error(
        "the encryption key{} given ({given}) cannot open this store's webhook secrets, which are sealed with key {expected}",
        if .given.contains(',') { "s" } else { "" }
    )]
    WrongKey { given: String, expected: String },
    #[error("a sealed secret does not open: {0}")]
    Corrupt(String),
    #[error("no randomness for a nonce: {0}")]
    Random(String),
}

/// One 256-bit key.
#[derive(Clone)]
pub struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> SealingKey {
        // The id names the key in sealed values without revealing it: a hash, domain-separated.
        let digest = Sha256::new().chain_update(b"public-api sealing key id\0").chain_update(bytes).finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = XChaCha20Poly1305::new(&(*bytes).into());
        SealingKey { id, cipher }
    }

    /// Reads a key from its text form: 32 bytes in standard base64 (`openssl rand -base64 32`),
    /// surrounding white space ignored.
    pub fn parse(text: &str) -> Result<SealingKey, SealingError> {
        let bad = |why: &str| SealingError::BadKey(format!("an encryption key must be 32 bytes in base64 ({why})"));
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|_| bad("not base64"))?;
        let bytes: [u8; KEY_BYTES] =
            bytes.try_into().map_err(|b: Vec<u8>| bad(&format!("this one is {} bytes", b.len())))?;
        Ok(SealingKey::from_bytes(&bytes))
    }

    /// Reads a key file written by [`write_key_file`] or `openssl rand -base64 32`.
    pub fn read_file(path: &Path) -> Result<SealingKey, SealingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SealingError::BadKey(format!("cannot read the key file {}: {e}", path.display())))?;
        SealingKey::parse(&text).map_err(|e| SealingError::BadKey(format!("the key file {}: {e}", path.display())))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, SealingError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| SealingError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| SealingError::Corrupt("encryption failed".into()))?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}:{}", self.id, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)))
    }

    fn open(&self, context: &str, body: &[u8]) -> Result<Vec<u8>, SealingError> {
        if body.len() < NONCE_BYTES {
            return Err(SealingError::Corrupt("too short".into()));
        }
        let (nonce, sealed) = body.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealingError::Corrupt("bad nonce".into()))?;
        self.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| SealingError::Corrupt(format!("it does not authenticate under key {}", self.id)))
    }
}

/// A new key's 32 random bytes.
fn random_key_bytes() -> Result<[u8; KEY_BYTES], SealingError> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| SealingError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Writes a new random key to `path` (which must not exist yet), readable by its owner only.
pub fn write_key_file(path: &Path) -> Result<SealingKey, SealingError> {
    let bytes = random_key_bytes()?;
    save_key(path, &bytes)?;
    Ok(SealingKey::from_bytes(&bytes))
}

fn save_key(path: &Path, bytes: &[u8; KEY_BYTES]) -> Result<(), SealingError> {
    let text = format!("{}\n", base64::engine::general_purpose::STANDARD.encode(bytes));
    write_private(path, text.as_bytes())
        .map_err(|e| SealingError::BadKey(format!("cannot write the key file {}: {e}", path.display())))
}

/// Replaces the key file `own` with a copy of `new`, atomically (a new file renamed over it).
pub fn replace_key_file(own: &Path, new: &Path) -> Result<(), SealingError> {
    let fail = |e: std::io::Error| SealingError::BadKey(format!("cannot replace the key file {}: {e}", own.display()));
    let text = std::fs::read(new).map_err(fail)?;
    let staged = own.with_extension("key.new");
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, &text).map_err(fail)?;
    std::fs::rename(&staged, own).map_err(fail)
}

/// Creates `path` with mode 0600 (on Unix) and `contents`, refusing to replace a file.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The keys a store may use: every one opens the values it sealed; new values are sealed with
/// the one the store names current.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SealingKey>,
    /// Set when the only key was just generated for a data directory: the store writes it to
    /// this file, if the store turns out to hold no sealed secrets yet.
    unsaved: Option<(PathBuf, [u8; KEY_BYTES])>,
}

impl Keyring {
    pub fn new(keys: Vec<SealingKey>) -> Keyring {
        Keyring { keys, unsaved: None }
    }

    /// A freshly generated key, to be saved at `path` once the store has been found empty of
    /// sealed secrets (see [`Keyring::unsaved_key_file`]).
    pub fn generated_for(path: PathBuf) -> Result<Keyring, SealingError> {
        let bytes = random_key_bytes()?;
        Ok(Keyring { keys: vec![SealingKey::from_bytes(&bytes)], unsaved: Some((path, bytes)) })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn into_keys(self) -> Vec<SealingKey> {
        self.keys
    }

    /// The file a generated key still has to be written to.
    pub fn unsaved_key_file(&self) -> Option<&Path> {
        self.unsaved.as_ref().map(|(path, _)| path.as_path())
    }

    /// Writes a generated key to its file, with mode 0600.
    pub fn save_generated(&mut self) -> Result<(), SealingError> {
        let Some((path, bytes)) = self.unsaved.take() else { return Ok(()) };
        save_key(&path, &bytes)?;
        tracing::warn!(
            path = %path.display(),
            "created an encryption key for webhook signing secrets; back it up apart from the data: without it the stored secrets cannot be opened"
        );
        Ok(())
    }

    /// The ids of the keys held, for messages.
    pub fn ids(&self) -> String {
        self.keys.iter().map(SealingKey::id).collect::<Vec<_>>().join(", ")
    }

    fn held(&self, id: &str) -> Result<&SealingKey, SealingError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealingError::WrongKey { given: self.ids(), expected: id.to_owned() })
    }

    /// The key new values are sealed with when the store names none yet: the first given.
    pub fn first(&self) -> Result<&SealingKey, SealingError> {
        self.keys.first().ok_or(SealingError::NoKey)
    }

    /// Seals `plaintext` with the key `key_id`, bound to `context` (an endpoint's id, say).
    pub fn seal(&self, key_id: &str, context: &str, plaintext: &str) -> Result<String, SealingError> {
        self.seal_bytes(key_id, context, plaintext.as_bytes())
    }

    /// Opens a value sealed for `context`. A value that was never sealed (a store from before
    /// encryption) is returned as it is.
    pub fn open(&self, context: &str, value: &str) -> Result<String, SealingError> {
        let plain = self.open_bytes(context, value.as_bytes())?;
        String::from_utf8(plain).map_err(|_| SealingError::Corrupt("not text".into()))
    }

    /// Like [`Keyring::seal`], for bytes.
    pub fn seal_bytes(&self, key_id: &str, context: &str, plaintext: &[u8]) -> Result<String, SealingError> {
        self.held(key_id)?.seal(context, plaintext)
    }

    /// Like [`Keyring::open`], for bytes: what is not a sealed value is returned as it is.
    pub fn open_bytes(&self, context: &str, value: &[u8]) -> Result<Vec<u8>, SealingError> {
        let Some(rest) = value.strip_prefix(SEALED_PREFIX.as_bytes()) else { return Ok(value.to_vec()) };
        let rest = std::str::from_utf8(rest).map_err(|_| SealingError::Corrupt("not text".into()))?;
        let (key_id, body) = rest.split_once(':').ok_or_else(|| SealingError::Corrupt("no key id".into()))?;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealingError::Corrupt("not base64".into()))?;
        self.held(key_id)?.open(context, &body)
    }

    /// Whether `value` is sealed (rather than a plain-text secret from before encryption).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED_PREFIX)
    }

    /// The check value for key `key_id`, which only that key opens.
    pub fn check_value(&self, key_id: &str) -> Result<String, SealingError> {
        self.seal(key_id, CHECK_CONTEXT, CHECK_PLAINTEXT)
    }

    /// Verifies that this keyring holds the store's current key `key_id`, by opening its check
    /// value.
    pub fn verify(&self, key_id: &str, check_value: &str) -> Result<(), SealingError> {
        let wrong = || SealingError::WrongKey { given: self.ids(), expected: key_id.to_owned() };
        if self.keys.is_empty() {
            return Err(SealingError::NoKey);
        }
        match self.open(CHECK_CONTEXT, check_value) {
            Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
            _ => Err(wrong()),
        }
    }
}

/// The `secrets` column of an endpoint: its secret list as JSON, each secret sealed with the
/// key `key_id`.
pub(crate) fn encode_secrets(
    keyring: &Keyring,
    key_id: &str,
    endpoint_id: &str,
    secrets: Vec<StoredSecret>,
) -> Result<String, StoreError> {
    let sealed = secrets
        .into_iter()
        .map(|s| Ok(StoredSecret { secret: keyring.seal(key_id, endpoint_id, &s.secret)?, ..s }))
        .collect::<Result<Vec<_>, SealingError>>()?;
    to_json(&sealed)
}

/// An endpoint's secret list from its `secrets` column, opened.
pub(crate) fn decode_secrets(
    keyring: &Keyring,
    endpoint_id: &str,
    column: &str,
) -> Result<Vec<StoredSecret>, StoreError> {
    let stored: Vec<StoredSecret> = from_json(column)?;
    Ok(stored
        .into_iter()
        .map(|s| Ok(StoredSecret { secret: keyring.open(endpoint_id, &s.secret)?, ..s }))
        .collect::<Result<Vec<_>, SealingError>>()?)
}

/// What a stored idempotent response is bound to: a response replays only for its own key.
pub(crate) fn idempotency_context(org_id: &str, key: &str) -> String {
    format!("idempotency:{org_id}:{key}")
}

/// Whether a `secrets` column still holds a plain-text secret (from before encryption).
pub(crate) fn has_plain_text(column: &str) -> Result<bool, StoreError> {
    let stored: Vec<StoredSecret> = from_json(column)?;
    Ok(stored.iter().any(|s| !Keyring::is_sealed(&s.secret)))
}

/// What opening a store does about encryption, from the check value it holds (the current
/// key's id and check value), if any.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Preparation {
    /// The keyring holds the store's current key; nothing to write.
    Ready,
    /// No key is given and none is needed yet (an admin command on a store without sealed
    /// secrets): nothing to write, and no secret can be read or written.
    Keyless,
    /// The store has no sealed secrets yet: seal every plain-text one and write the check
    /// value, with this key, in one transaction (after saving a generated key's file).
    Initialize { key_id: String },
}

/// Decides [`Preparation`]; a refusal is an error before anything is written.
pub(crate) fn prepare(keyring: &Keyring, current: Option<(String, String)>) -> Result<Preparation, SealingError> {
    match current {
        Some((key_id, check_value)) => {
            if let Some(path) = keyring.unsaved_key_file() {
                return Err(SealingError::BadKey(format!(
                    "this store's webhook secrets are sealed with key {key_id}, but its key file {} is missing; restore it, or give the key",
                    path.display()
                )));
            }
            keyring.verify(&key_id, &check_value)?;
            Ok(Preparation::Ready)
        }
        None if keyring.is_empty() => Ok(Preparation::Keyless),
        None => Ok(Preparation::Initialize { key_id: keyring.first()?.id().to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealingKey {
        SealingKey::from_bytes(&[byte; KEY_BYTES])
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_for_its_endpoint_only() {
        let ring = Keyring::new(vec![key(1)]);
        let id = key(1).id().to_owned();
        let sealed = ring.seal(&id, "ep_1", "whsec_abc").unwrap();
        assert!(Keyring::is_sealed(&sealed) && !sealed.contains("whsec_abc"));
        assert_ne!(sealed, ring.seal(&id, "ep_1", "whsec_abc").unwrap(), "a fresh nonce per value");
        assert_eq!(ring.open("ep_1", &sealed).unwrap(), "whsec_abc");
        assert!(matches!(ring.open("ep_2", &sealed), Err(SealingError::Corrupt(_))), "bound to the endpoint id");
        let other = Keyring::new(vec![key(2)]);
        assert!(matches!(other.open("ep_1", &sealed), Err(SealingError::WrongKey { .. })));
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(ring.open("ep_1", &tampered).is_err(), "a changed byte does not authenticate");
        assert_eq!(ring.open("ep_1", "whsec_plain").unwrap(), "whsec_plain", "plain text from before encryption");
    }

    #[test]
    fn a_store_opens_only_with_its_current_key() {
        let (one, two) = (Keyring::new(vec![key(1)]), Keyring::new(vec![key(2)]));
        let id = key(1).id().to_owned();
        let current = Some((id.clone(), one.check_value(&id).unwrap()));
        assert_eq!(prepare(&one, current.clone()).unwrap(), Preparation::Ready);
        assert!(matches!(prepare(&two, current.clone()), Err(SealingError::WrongKey { .. })));
        assert!(matches!(prepare(&Keyring::default(), current.clone()), Err(SealingError::NoKey)));
        let both = Keyring::new(vec![key(2), key(1)]);
        assert_eq!(prepare(&both, current).unwrap(), Preparation::Ready, "during a key rotation");
        assert_eq!(prepare(&two, None).unwrap(), Preparation::Initialize { key_id: key(2).id().to_owned() });
        assert_eq!(prepare(&Keyring::default(), None).unwrap(), Preparation::Keyless);
    }

    #[test]
    fn keys_are_read_from_base64_text() {
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; KEY_BYTES]);
        assert_eq!(SealingKey::parse(&format!(" {text}\n")).unwrap().id(), key(7).id());
        assert!(SealingKey::parse("c2hvcnQ=").is_err());
        assert!(SealingKey::parse("not base64!").is_err());
    }
}
