//! Setting up a node from the command line: the first libraries and their first staff, before
//! anyone can log in to do it through the API.

use anyhow::{Context, bail};
use domain::calendar::ClosedDays;
use domain::ident::{AgencyId, LibraryCode};
use domain::library::{LibraryKind, PartnerPolicy, Service};
use domain::people::{AccountStatus, PatronType, Role, UserKind, roles_to_string};
use store::{Json, LibraryRow, NewUser, Store, StoreError};

use crate::auth::hash_password;

#[derive(Debug, Clone)]
pub struct NewLibrary {
    pub code: String,
    /// ISO 18626 agency id, TYPE:VALUE (e.g. ISIL:CN-100000).
    pub agency: String,
    pub name_en: String,
    pub name_zh: String,
    pub kind: String,
    pub region: String,
    pub hub: Option<String>,
}

/// Add a library with a default lending policy (loans and copies, four weeks, three opening days
/// to answer) that its admins can change.
pub async fn add_library(
    store: &Store,
    lib: NewLibrary,
    now: time::OffsetDateTime,
) -> anyhow::Result<()> {
    let code = LibraryCode::parse(&lib.code)?;
    let agency = AgencyId::parse(&lib.agency)?;
    let kind = LibraryKind::parse(&lib.kind).with_context(|| {
        format!(
            "kind {:?}: one of university, public, research, supplier, hub",
            lib.kind
        )
    })?;
    if lib.name_en.trim().is_empty() || lib.name_zh.trim().is_empty() {
        bail!("a library needs a name in English and in Chinese");
    }
    let hub = match lib.hub {
        Some(h) => Some(
            store
                .library(&LibraryCode::parse(&h)?.to_string())
                .await
                .with_context(|| format!("hub {h} does not exist"))?
                .library_id,
        ),
        None => None,
    };
    let known = store.libraries().await?;
    let hub_of = hub.clone();
    let row = LibraryRow {
        library_id: code.to_string(),
        agency_type: agency.agency_type,
        agency_value: agency.value,
        name_en: lib.name_en.trim().to_owned(),
        name_zh: lib.name_zh.trim().to_owned(),
        kind: kind.as_str().to_owned(),
        region: lib.region.trim().to_owned(),
        address: String::new(),
        hub_id: hub,
        closed_days: Json(ClosedDays::default()),
        created_at: now,
        latitude_e6: None,
        longitude_e6: None,
        // Its hub's time, else the node's (see `partners::home_offset`); its admins change it.
        utc_offset_minutes: crate::partners::home_offset(&known, hub_of.as_deref()).minutes(),
    };
    let policy = PartnerPolicy {
        services: vec![Service::Loan, Service::Copy],
        loan_days: 28,
        answer_days: 3,
        loan_fee: None,
        copy_fee: None,
        delivery_methods: vec!["mail".to_owned()],
        payment_methods: vec![],
        active: true,
    };
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.insert_library(&row).await?;
                tx.upsert_policy(&row.library_id, None, &policy).await?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                anyhow::anyhow!("a library with that code or agency id exists already")
            }
            other => other.into(),
        })
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub library: String,
    pub username: String,
    pub display_name: String,
    pub password: String,
    /// Staff roles (comma-separated); empty for a reader.
    pub roles: String,
    /// For a reader: faculty, phd, master, undergraduate, staff or external.
    pub patron_type: Option<String>,
}

/// Add an active account: staff with roles, or a reader with a type.
pub async fn add_user(
    store: &Store,
    a: NewAccount,
    now: time::OffsetDateTime,
) -> anyhow::Result<String> {
    let library = store
        .library(&LibraryCode::parse(&a.library)?.to_string())
        .await
        .with_context(|| format!("library {} does not exist", a.library))?;
    let roles = domain::people::parse_roles(&a.roles).map_err(|r| {
        anyhow::anyhow!(
            "unknown role {r:?}; roles: {}",
            Role::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let patron_type = match &a.patron_type {
        Some(t) => Some(PatronType::parse(t).with_context(|| format!("patron type {t:?}"))?),
        None => None,
    };
    let kind = match (roles.is_empty(), patron_type) {
        (false, None) => UserKind::Staff,
        (true, Some(_)) => UserKind::Patron,
        _ => bail!("give staff roles or a reader type, not both and not neither"),
    };
    if a.password.chars().count() < 8 {
        bail!("the password needs at least 8 characters");
    }
    let user = NewUser {
        user_id: uuid::Uuid::now_v7().to_string(),
        library_id: library.library_id,
        username: a.username.trim().to_lowercase(),
        display_name: a.display_name.trim().to_owned(),
        email: None,
        password_hash: hash_password(a.password).await?,
        kind: kind.as_str().to_owned(),
        patron_type: patron_type.map(|p| p.as_str().to_owned()),
        department: None,
        roles: roles_to_string(&roles),
        status: AccountStatus::Active.as_str().to_owned(),
        locale: "zh-CN".to_owned(),
    };
    let id = user.user_id.clone();
    store
        .write(move |tx| Box::pin(async move { tx.insert_user(&user, now).await }))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => anyhow::anyhow!("that username is taken"),
            other => other.into(),
        })?;
    Ok(id)
}

/// Make `code` a partner served elsewhere: messages to it go over HTTP to `endpoint`, written
/// as the preset of `system` says (librelay, reshare, alma, worldshare, other), or as letters
/// to its `mailto:` address for an e-mail partner (`email`).
pub async fn set_peer(
    store: &Store,
    code: &str,
    input: crate::api::peers::PeerInput,
    now: time::OffsetDateTime,
) -> anyhow::Result<domain::peer::PeerProfile> {
    let code = LibraryCode::parse(code)?.to_string();
    store
        .library(&code)
        .await
        .with_context(|| format!("library {code} does not exist; add it first"))?;
    let current = store.peer(&code).await?;
    let profile = crate::api::peers::profile_from(input, current.as_ref()).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let p = profile.clone();
    store
        .write(move |tx| Box::pin(async move { tx.upsert_peer(&code, &p, now).await }))
        .await?;
    Ok(profile)
}
