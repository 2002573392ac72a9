//! The error type of every fallible function of this crate.

use std::fmt;

/// Why a request could not be canonicalised, signed or verified (auth.md "AK/SK signing").
///
/// Every variant renders as one line that carries no secret material: at most a header *name*
/// (already validated as an HTTP token) or a fixed word. A server maps all of them to
/// `401 APIG.0301` (errors.md); the message is meant for logs, not necessarily for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The `Authorization` header is longer than [`crate::MAX_AUTHORIZATION_LEN`] bytes.
    AuthorizationTooLong,
    /// The `Authorization` header does not start with `SDK-HMAC-SHA256` followed by a space.
    UnknownAlgorithm,
    /// The `Authorization` header is not `SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..`;
    /// the payload says which part is wrong.
    MalformedAuthorization(&'static str),
    /// A field (`Access`/`Credential`, `SignedHeaders`, `Signature`) appears twice in the
    /// `Authorization` header.
    DuplicateAuthorizationField(&'static str),
    /// The signature is not exactly 64 lowercase hex digits.
    InvalidSignatureFormat,
    /// More than [`crate::MAX_SIGNED_HEADERS`] signed headers.
    TooManySignedHeaders,
    /// A signed-header name is empty or not an HTTP token.
    InvalidSignedHeaderName,
    /// The same header name is listed twice among the signed headers (case-insensitively).
    DuplicateSignedHeader(String),
    /// `host` or `x-sdk-date` is not among the signed headers.
    RequiredHeaderNotSigned(&'static str),
    /// A signed header is not present in the request.
    MissingHeader(String),
    /// A signed header (or `X-Sdk-Content-Sha256`) occurs more than once in the request.
    DuplicateHeader(String),
    /// A signed header's value contains a CR or LF.
    InvalidHeaderValue(String),
    /// The HTTP method is empty or not an HTTP token.
    InvalidMethod,
    /// The body hash given to the canonicaliser is not 64 lowercase hex digits (and the request
    /// did not ask for `UNSIGNED-PAYLOAD`).
    InvalidBodyHash,
    /// `X-Sdk-Date` is not a valid `YYYYMMDDTHHMMSSZ` UTC time.
    InvalidSdkDate,
    /// `X-Sdk-Date` is further from the server's clock than the allowed skew.
    DateSkew,
    /// The secret key was refused by the HMAC implementation (never happens with HMAC-SHA256,
    /// which accepts keys of any length; kept so that no code path has to panic).
    InvalidKey,
    /// The signature does not match the request.
    SignatureMismatch,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::AuthorizationTooLong => write!(
                f,
                "Authorization header is longer than {} bytes",
                crate::MAX_AUTHORIZATION_LEN
            ),
            SignError::UnknownAlgorithm => {
                write!(f, "Authorization header does not use {}", crate::ALGORITHM)
            }
            SignError::MalformedAuthorization(what) => {
                write!(f, "malformed Authorization header: {what}")
            }
            SignError::DuplicateAuthorizationField(field) => {
                write!(f, "Authorization header has {field} more than once")
            }
            SignError::InvalidSignatureFormat => {
                write!(f, "signature is not 64 lowercase hex digits")
            }
            SignError::TooManySignedHeaders => {
                write!(f, "more than {} signed headers", crate::MAX_SIGNED_HEADERS)
            }
            SignError::InvalidSignedHeaderName => {
                write!(f, "a signed header name is empty or not a valid token")
            }
            SignError::DuplicateSignedHeader(name) => {
                write!(f, "signed header {name} is listed twice")
            }
            SignError::RequiredHeaderNotSigned(name) => {
                write!(f, "header {name} must be signed")
            }
            SignError::MissingHeader(name) => {
                write!(f, "signed header {name} is missing from the request")
            }
            SignError::DuplicateHeader(name) => {
                write!(f, "header {name} occurs more than once in the request")
            }
            SignError::InvalidHeaderValue(name) => {
                write!(f, "value of header {name} contains a line break")
            }
            SignError::InvalidMethod => write!(f, "HTTP method is not a valid token"),
            SignError::InvalidBodyHash => {
                write!(f, "body hash is not 64 lowercase hex digits")
            }
            SignError::InvalidSdkDate => {
                write!(f, "X-Sdk-Date is not a valid YYYYMMDDTHHMMSSZ UTC time")
            }
            SignError::DateSkew => write!(f, "X-Sdk-Date is too far from the server's clock"),
            SignError::InvalidKey => write!(f, "secret key rejected by HMAC-SHA256"),
            SignError::SignatureMismatch => write!(f, "signature does not match the request"),
        }
    }
}

impl std::error::Error for SignError {}
