//! Readers and staff: patron types, staff roles and the capacities a role grants on requests.

use crate::machine::Actor;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// Reader categories: they drive quotas, fees and statistics.
    PatronType {
        Faculty => "faculty",
        Phd => "phd",
        Master => "master",
        Undergraduate => "undergraduate",
        Staff => "staff",
        External => "external",
    }
);

string_enum!(
    /// Staff roles. A user may hold several.
    Role {
        BorrowingOperator => "borrowing_operator",
        LendingOperator => "lending_operator",
        ResourceSharingManager => "resource_sharing_manager",
        LibraryAdmin => "library_admin",
        HubAdmin => "hub_admin",
    }
);

string_enum!(
    /// Patron or staff account.
    UserKind { Patron => "patron", Staff => "staff" }
);

string_enum!(
    /// Readers register, then staff approve them; any account can be suspended.
    AccountStatus { Pending => "pending", Active => "active", Suspended => "suspended" }
);

impl Role {
    /// What the role lets its holder do on requests of their own library.
    pub fn capacities(self) -> &'static [Actor] {
        match self {
            Role::BorrowingOperator => &[Actor::BorrowingStaff],
            Role::LendingOperator => &[Actor::LendingStaff],
            Role::ResourceSharingManager | Role::LibraryAdmin | Role::HubAdmin => {
                &[Actor::BorrowingStaff, Actor::LendingStaff, Actor::Manager]
            }
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::LibraryAdmin | Role::HubAdmin)
    }
}

/// Capacities of a set of roles, without duplicates.
pub fn capacities(roles: &[Role]) -> Vec<Actor> {
    let mut out = Vec::new();
    for cap in roles.iter().flat_map(|r| r.capacities()) {
        if !out.contains(cap) {
            out.push(*cap);
        }
    }
    out
}

/// Parse a comma-separated role list as stored; unknown names are reported, not dropped.
pub fn parse_roles(list: &str) -> Result<Vec<Role>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Role::parse(s).ok_or_else(|| s.to_owned()))
        .collect()
}

pub fn roles_to_string(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
