//! Driving requests in-process, as staff and readers would through the API: used by the demo
//! seeding and the lifecycle benchmark. Waits use `Waiters`, so nothing polls.

use std::time::Duration;

use store::{BorrowRequest, LendRequest};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::flow::borrow::borrow_action;
use crate::flow::lend::lend_action;
use crate::flow::{ActionInput, CreateRequest, create_borrow_request};

/// How long a step may wait for a message to be delivered before the driver gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Driver {
    pub st: AppState,
}

pub fn action(name: &str) -> ActionInput {
    ActionInput {
        action: name.to_owned(),
        ..ActionInput::default()
    }
}

impl Driver {
    pub fn new(st: AppState) -> Self {
        Driver { st }
    }

    /// A user as the API would see them after login.
    pub async fn user(&self, username: &str) -> ApiResult<CurrentUser> {
        let row = self
            .st
            .store
            .user_by_username(username)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        CurrentUser::from_row(&row, String::new())
    }

    pub async fn create(&self, who: &CurrentUser, body: CreateRequest) -> ApiResult<BorrowRequest> {
        create_borrow_request(&self.st, who, body, domain::stats::Source::Api).await
    }

    pub async fn borrow(
        &self,
        who: &CurrentUser,
        id: &str,
        input: ActionInput,
    ) -> ApiResult<BorrowRequest> {
        borrow_action(&self.st, who, id, input).await
    }

    pub async fn lend(
        &self,
        who: &CurrentUser,
        id: &str,
        input: ActionInput,
    ) -> ApiResult<LendRequest> {
        lend_action(&self.st, who, id, input).await
    }

    /// Wait until the borrowing request is in `state`.
    pub async fn until_borrow_state(&self, id: &str, state: &str) -> ApiResult<BorrowRequest> {
        let store = self.st.store.clone();
        self.st
            .waiters
            .wait_for(id, STEP_TIMEOUT, || {
                let store = store.clone();
                async move {
                    store
                        .borrow_request(id)
                        .await
                        .ok()
                        .filter(|r| r.state == state)
                }
            })
            .await
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "request {id} did not reach {state} in time"
                ))
            })
    }

    /// Wait until the request is in one of `states` with a lender other than `not_lender`, or
    /// unfilled (used to follow the rota from one lender to the next).
    pub async fn until_borrow_state_any(
        &self,
        id: &str,
        states: &[&str],
        not_lender: &str,
    ) -> ApiResult<BorrowRequest> {
        let store = self.st.store.clone();
        self.st
            .waiters
            .wait_for(id, STEP_TIMEOUT, || {
                let store = store.clone();
                async move {
                    store.borrow_request(id).await.ok().filter(|r| {
                        states.contains(&r.state.as_str())
                            && (r.state == "unfilled" || r.lender_id.as_deref() != Some(not_lender))
                    })
                }
            })
            .await
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("request {id} did not move on in time"))
            })
    }

    /// Wait until `lender` has the lending request for borrowing request `id` in `state`.
    pub async fn until_lend_state(
        &self,
        id: &str,
        lender: &str,
        state: &str,
    ) -> ApiResult<LendRequest> {
        let store = self.st.store.clone();
        self.st
            .waiters
            .wait_for(id, STEP_TIMEOUT, || {
                let store = store.clone();
                async move {
                    let borrow = store.borrow_request(id).await.ok()?;
                    let wire = crate::flow::borrow::wire_id(&borrow);
                    let found = store
                        .lend_request_for_borrow(lender, &wire)
                        .await
                        .ok()
                        .flatten();
                    found.filter(|r| r.state == state)
                }
            })
            .await
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "{lender} has no request for {id} in {state} in time"
                ))
            })
    }

    /// Wait until `lender` has the lending request whose borrower's wire id is `wire_id` in
    /// `state` (the borrower may be on another node; `borrow_id` is what waiters are woken by).
    pub async fn until_lend_state_wire(
        &self,
        borrow_id: &str,
        wire_id: &str,
        lender: &str,
        state: &str,
    ) -> ApiResult<LendRequest> {
        let store = self.st.store.clone();
        self.st
            .waiters
            .wait_for(borrow_id, STEP_TIMEOUT, || {
                let store = store.clone();
                async move {
                    store
                        .lend_request_for_borrow(lender, wire_id)
                        .await
                        .ok()
                        .flatten()
                        .filter(|r| r.state == state)
                }
            })
            .await
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "{lender} has no request {wire_id} in {state} in time"
                ))
            })
    }
}
