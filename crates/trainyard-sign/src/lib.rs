//! SDK-HMAC-SHA256 request signing and verification (Huawei Cloud APIG / ModelArts AK/SK auth),
//! the one canonicaliser shared by the trainyard SDK (which signs) and server (which verifies).
//!
//! Contract: `spec/auth.md`, section "AK/SK signing". In short:
//!
//! ```text
//! canonical request = METHOD \n canonical_uri \n canonical_query \n
//!                     (name:trimmed-value \n)* \n signed;headers \n body-sha256-hex
//! string to sign    = SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(sha256(canonical request))
//! signature         = hex(hmac_sha256(SK bytes, string to sign))
//! Authorization     = SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex
//! ```
//!
//! Client:
//!
//! ```
//! use trainyard_sign::{Signer, sdk_date};
//! let signer = Signer::new("QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc");
//! let add = signer.sign(
//!     "GET", "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
//!     "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
//!     &[("Content-Type", "application/json"), ("Host", "service.region.example.com")],
//!     b"", "20191115T033655Z",
//! );
//! assert_eq!(add[1].1, "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
//!     SignedHeaders=content-type;host;x-sdk-date, \
//!     Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe");
//! # let _ = sdk_date(0);
//! ```
//!
//! Server:
//!
//! ```
//! use trainyard_sign::{parse_authorization, verify, RequestParts, DEFAULT_MAX_SKEW_MS, EMPTY_BODY_SHA256};
//! let auth = parse_authorization("SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
//!     SignedHeaders=content-type;host;x-sdk-date, \
//!     Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe")?;
//! let headers = [("content-type", "application/json"), ("host", "service.region.example.com"),
//!                ("x-sdk-date", "20191115T033655Z")];
//! let parts = RequestParts {
//!     method: "GET", path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
//!     query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
//!     headers: &headers, body_sha256_hex: EMPTY_BODY_SHA256,
//! };
//! let now = trainyard_sign::parse_sdk_date("20191115T033655Z")?;
//! verify(&parts, &auth, b"MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", now, DEFAULT_MAX_SKEW_MS)?;
//! # Ok::<(), trainyard_sign::SignError>(())
//! ```

mod authorization;
mod canonical;
mod date;
mod error;
mod signer;
mod verify;

pub use authorization::{Authorization, parse_authorization};
pub use canonical::{
    BodyHasher, RequestParts, canonical_query, canonical_request, canonical_uri,
    is_unsigned_payload, sha256_hex, signature_hex, string_to_sign,
};
pub use date::{parse_sdk_date, sdk_date};
pub use error::SignError;
pub use signer::Signer;
pub use verify::{check_before_body, verify};

/// The algorithm name that starts the `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Hex SHA-256 of the empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The `X-Sdk-Content-Sha256` value that replaces the body hash (auth.md "AK/SK signing").
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Name of the header carrying the signing time, `YYYYMMDDTHHMMSSZ` UTC.
pub const HEADER_SDK_DATE: &str = "X-Sdk-Date";

/// Name of the header that may carry [`UNSIGNED_PAYLOAD`].
pub const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";

/// Name of the header carrying the signature.
pub const HEADER_AUTHORIZATION: &str = "Authorization";

/// Longest accepted `Authorization` header value, in bytes (8 KiB).
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;

/// Most signed headers accepted in one request.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// Allowed distance between `X-Sdk-Date` and the server clock: 15 minutes, in milliseconds.
pub const DEFAULT_MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// Whether `s` is a non-empty HTTP token (RFC 9110 `tchar`s), as header names and methods are.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}
