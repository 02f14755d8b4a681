//! Passwords (Argon2id, hashed off the async threads), bearer tokens (random, stored as SHA-256
//! hashes, revocable) and the extractor that turns a token into the acting user.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use domain::Actor;
use domain::people::{AccountStatus, Role, UserKind, capacities, parse_roles};
use rand::RngCore;
use sha2::{Digest, Sha256};
use store::UserRow;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A new random token (shown to the user once) and its hash (stored).
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub library_id: String,
    pub username: String,
    pub kind: UserKind,
    pub roles: Vec<Role>,
    pub token_hash: String,
}

impl CurrentUser {
    pub fn from_row(u: &UserRow, token_hash: String) -> Result<Self, ApiError> {
        let kind = UserKind::parse(&u.kind).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("user {} has kind {}", u.user_id, u.kind))
        })?;
        let roles = parse_roles(&u.roles).map_err(|r| {
            ApiError::internal(anyhow::anyhow!("user {} has unknown role {r}", u.user_id))
        })?;
        Ok(CurrentUser {
            user_id: u.user_id.clone(),
            library_id: u.library_id.clone(),
            username: u.username.clone(),
            kind,
            roles,
            token_hash,
        })
    }

    pub fn is_patron(&self) -> bool {
        self.kind == UserKind::Patron
    }

    /// The capacities this user acts in on their own library's requests.
    pub fn actors(&self) -> Vec<Actor> {
        if self.is_patron() {
            vec![Actor::Patron]
        } else {
            capacities(&self.roles)
        }
    }

    pub fn can(&self, actor: Actor) -> bool {
        self.actors().contains(&actor)
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let hash = token_hash(token);
        let user = state
            .store
            .token_owner(&hash, state.now())
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if user.status != AccountStatus::Active.as_str() {
            return Err(ApiError::forbidden(
                format!("the account is {}", user.status),
                crate::error::account_status_zh(&user.status),
            ));
        }
        CurrentUser::from_row(&user, hash)
    }
}
