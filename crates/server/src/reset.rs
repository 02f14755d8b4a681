//! Password reset for readers and staff: a link by mail, valid for an hour and once; only the
//! SHA-256 of its token is stored. Asking for one says the same whether or not the account
//! exists, so accounts cannot be probed; using one sets the password and ends every session.

use crate::AppState;
use crate::auth::{hash_password, new_token, token_hash};
use crate::flow::FlowError;
use crate::letters::LetterKind;

/// How long a reset link works.
pub const RESET_TTL: time::Duration = time::Duration::hours(1);

/// The shortest password taken (as at registration).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a new password was not set.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("the password is too short: at least 8 characters")]
    TooShort,
    #[error("this reset link is unknown, already used or expired; ask for a new one")]
    BadLink,
    #[error(transparent)]
    Flow(#[from] FlowError),
}

/// Send a reset link to the account named by `who` (a username, or an e-mail address: every
/// active account with it). Does the work in the background and returns at once, so that the
/// answer and its timing are the same whether or not an account matched.
pub fn request(st: &AppState, who: &str) {
    let (st, who) = (st.clone(), who.trim().to_owned());
    if who.is_empty() || who.len() > 320 {
        return;
    }
    tokio::spawn(async move {
        if let Err(e) = send_links(&st, &who).await {
            tracing::warn!(error = %e, "a password reset link could not be queued");
        }
    });
}

async fn send_links(st: &AppState, who: &str) -> Result<usize, FlowError> {
    let mut users = Vec::new();
    if let Some(u) = st.store.user_by_username(who).await? {
        users.push(u);
    } else if who.contains('@') {
        users = st.store.users_by_email(who).await?;
    }
    let mut sent = 0;
    for user in users {
        if user.status != domain::people::AccountStatus::Active.as_str()
            || !user.email.as_deref().is_some_and(|e| e.contains('@'))
        {
            continue;
        }
        let (token, hash) = new_token();
        let now = st.now();
        let expires = now + RESET_TTL;
        let vars = serde_json::json!({
            "link": format!("/reset-password/{token}"),
            "expires": format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                expires.year(), u8::from(expires.month()), expires.day(),
                expires.hour(), expires.minute()
            ),
        });
        st.store
            .write(move |tx| {
                Box::pin(async move {
                    tx.insert_password_reset(&hash, &user.user_id, now, expires)
                        .await?;
                    crate::letters::queue_to_user(
                        tx,
                        LetterKind::PasswordReset,
                        &user.library_id,
                        &user.user_id,
                        "",
                        vars,
                        now,
                    )
                    .await
                })
            })
            .await?;
        sent += 1;
    }
    if sent > 0 {
        st.store.notify_outbox();
    }
    Ok(sent)
}

/// Whether a reset link would work now.
pub async fn link_works(st: &AppState, token: &str) -> Result<bool, FlowError> {
    Ok(st
        .store
        .password_reset_valid(&token_hash(token), st.now())
        .await?)
}

/// Set a new password with a reset link: spends the link (and the account's other links) and
/// revokes every token and session of the account, in one transaction.
pub async fn complete(st: &AppState, token: &str, password: String) -> Result<(), ResetError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ResetError::TooShort);
    }
    let hashed = hash_password(password)
        .await
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let (hash, now) = (token_hash(token), st.now());
    let done = st
        .store
        .write(move |tx| {
            Box::pin(async move {
                let Some(user) = tx.use_password_reset(&hash, now).await? else {
                    return Ok(false);
                };
                tx.set_password(&user, &hashed, now).await?;
                Ok::<_, FlowError>(true)
            })
        })
        .await?;
    if done {
        Ok(())
    } else {
        Err(ResetError::BadLink)
    }
}
