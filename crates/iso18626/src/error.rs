//! Why a message could not be read, in words fit for a confirmation's `errorValue`.

use crate::model::{ErrorType, NAMESPACE};

/// A message that could not be read. `Display` says what and where, short enough to send back
/// to the partner as the `errorValue` of an ERROR confirmation; [`ParseError::error_type`] gives
/// the matching `errorType`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not well-formed XML, or XML this reader refuses (a DOCTYPE, an undeclared entity, nesting
    /// too deep, text in neither UTF-8 nor the encoding it declares). `position` is a byte offset.
    #[error("badly formed XML at byte {position}: {detail}")]
    BadlyFormed { position: u64, detail: String },

    /// The root element is not in the ISO 18626 namespace (`found` is empty for no namespace).
    #[error(
        "the root element is in {}, not in the ISO 18626 namespace {NAMESPACE}",
        describe_namespace(found)
    )]
    WrongNamespace { found: String },

    /// The root is not `ISO18626Message`, or it does not hold one of the six messages.
    #[error(
        "{found} is not an ISO 18626 message: expected ISO18626Message holding request, \
         requestConfirmation, supplyingAgencyMessage, supplyingAgencyMessageConfirmation, \
         requestingAgencyMessage or requestingAgencyMessageConfirmation"
    )]
    UnknownRoot { found: String },

    /// A required element is absent or empty, e.g. `request/header/supplyingAgencyId`.
    #[error("missing element {path}")]
    MissingElement { path: String },

    /// An element holds a value outside its type, e.g. an unknown `status`.
    #[error("{path}: {value:?} is not {expected}")]
    BadValue {
        path: String,
        value: String,
        expected: String,
    },
}

impl ParseError {
    /// The ISO 18626 error type to answer with.
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::BadlyFormed { .. }
            | Self::WrongNamespace { .. }
            | Self::MissingElement { .. } => ErrorType::BadlyFormedMessage,
            Self::UnknownRoot { .. } => ErrorType::UnrecognisedDataElement,
            Self::BadValue { path, .. } => {
                if path.ends_with("/action") {
                    ErrorType::UnsupportedActionType
                } else if path.ends_with("/reasonForMessage") {
                    ErrorType::UnsupportedReasonForMessageType
                } else {
                    ErrorType::UnrecognisedDataValue
                }
            }
        }
    }

    pub(crate) fn badly_formed(position: u64, detail: impl Into<String>) -> Self {
        Self::BadlyFormed {
            position,
            detail: detail.into(),
        }
    }

    pub(crate) fn missing(path: impl Into<String>) -> Self {
        Self::MissingElement { path: path.into() }
    }

    /// A bad value, cut short so that a huge value does not make a huge error message.
    pub(crate) fn bad_value(path: &str, value: &str, expected: impl Into<String>) -> Self {
        const MAX_CHARS: usize = 80;
        let mut shown: String = value.chars().take(MAX_CHARS).collect();
        if shown.len() < value.len() {
            shown.push_str("...");
        }
        Self::BadValue {
            path: path.to_owned(),
            value: shown,
            expected: expected.into(),
        }
    }
}

fn describe_namespace(found: &str) -> String {
    if found.is_empty() {
        "no namespace".to_owned()
    } else {
        format!("namespace {found}")
    }
}
