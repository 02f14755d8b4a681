//! The rota: the ordered list of lenders a borrowing request tries, what each one answered, and
//! a plain ranking by holdings; `routing::rank` builds the lender string with reasons.

use serde::{Deserialize, Serialize};

use crate::ident::LibraryCode;

/// Why a lender in the rota did not fill the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotaOutcome {
    Unfilled,
    NoAnswer,
    ConditionsRefused,
    Cancelled,
    Skipped,
    /// It offered to supply under other terms (RetryPossible) and staff declined them.
    RetryDeclined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotaEntry {
    pub library: LibraryCode,
    /// Why the ranking put it here, shown to staff ("holds 2 copies; same region; free").
    #[serde(default)]
    pub reason: String,
    /// The same reason in Chinese.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason_zh: String,
    /// What the lender charges for this request; absent when free or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<crate::money::Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RotaOutcome>,
    /// The lender's own words (reasonUnfilled, note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Lenders in order, and which one has the request now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rota {
    pub entries: Vec<RotaEntry>,
    /// Index of the lender that has the request; `None` before the first send.
    pub current: Option<usize>,
    /// Partners that hold the item but were left out, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<crate::routing::Excluded>,
}

impl Rota {
    pub fn new(entries: Vec<RotaEntry>) -> Self {
        Rota {
            entries,
            current: None,
            excluded: Vec::new(),
        }
    }

    pub fn current(&self) -> Option<&RotaEntry> {
        self.current.and_then(|i| self.entries.get(i))
    }

    fn next_index(&self) -> usize {
        self.current.map_or(0, |i| i + 1)
    }

    pub fn has_next(&self) -> bool {
        self.next_index() < self.entries.len()
    }

    /// Close the current lender with `outcome` and move to the next; returns the new current.
    pub fn advance(&mut self, outcome: RotaOutcome, note: Option<String>) -> Option<&RotaEntry> {
        if let Some(cur) = self
            .current
            .and_then(|i| self.entries.get_mut(i))
            .filter(|c| c.outcome.is_none())
        {
            cur.outcome = Some(outcome);
            cur.note = note;
        }
        let next = self.next_index();
        if next < self.entries.len() {
            self.current = Some(next);
            self.entries.get(next)
        } else {
            self.current = Some(self.entries.len());
            None
        }
    }

    /// Replace the lenders not yet tried; those already asked keep their place and answer.
    pub fn replace_remaining(&mut self, rest: Vec<RotaEntry>) {
        let keep = self.current.map_or(0, |i| (i + 1).min(self.entries.len()));
        self.entries.truncate(keep);
        self.entries.extend(rest);
    }

    pub fn reset(&mut self) {
        self.current = None;
        for e in &mut self.entries {
            e.outcome = None;
            e.note = None;
        }
    }

    /// Why nobody filled it, lender by lender, for the reader and staff.
    pub fn reasons(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| {
                let outcome = e.outcome?;
                let note = e
                    .note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default();
                Some(format!("{} {:?}{}", e.library, outcome, note))
            })
            .collect()
    }
}
