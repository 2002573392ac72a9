//! The `Authorization` header (auth.md "AK/SK signing", step 5).

use std::fmt;

use crate::canonical::{decode_signature, normalize_signed_headers};
use crate::{ALGORITHM, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS, SignError};

/// A parsed `Authorization: SDK-HMAC-SHA256 ...` header (auth.md "AK/SK signing", step 5).
///
/// `Display` renders the canonical header value
/// `SDK-HMAC-SHA256 Access={AK}, SignedHeaders={a;b}, Signature={hex}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key (AK): the `Access=` value, or the part of `Credential=` before its first `/`.
    pub access_key: String,
    /// Signed header names, lowercased and sorted, no duplicates, at most 64.
    pub signed_headers: Vec<String>,
    /// The signature: exactly 64 lowercase hex digits.
    pub signature: String,
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
            self.access_key,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

fn parse_signed_header_list(value: &str) -> Result<Vec<String>, SignError> {
    // Count before allocating anything.
    if value.bytes().filter(|&b| b == b';').count() >= MAX_SIGNED_HEADERS {
        return Err(SignError::TooManySignedHeaders);
    }
    let names: Vec<&str> = value.split(';').collect();
    normalize_signed_headers(&names)
}

/// Parse an `Authorization` header value (auth.md "AK/SK signing", step 5):
/// `SDK-HMAC-SHA256 Access={AK}, SignedHeaders={a;b}, Signature={hex}`, or the older form with
/// `Credential={AK}/{anything}` in place of `Access={AK}`.
///
/// Accepted: fields in any order, separated by `,` with optional spaces around fields, keys and
/// values; field keys in any case; signed-header names in any case and order (returned lowercased
/// and sorted). Not accepted, each an error and never a panic:
/// - a value longer than [`MAX_AUTHORIZATION_LEN`] (8 KiB): [`SignError::AuthorizationTooLong`],
///   checked before any parsing;
/// - another algorithm name (case-sensitive): [`SignError::UnknownAlgorithm`];
/// - a missing, empty, unknown or `=`-less field, or an empty access key:
///   [`SignError::MalformedAuthorization`];
/// - a field given twice (`Access` and `Credential` count as the same field):
///   [`SignError::DuplicateAuthorizationField`];
/// - more than 64 signed headers, an empty or non-token name, a repeated name:
///   [`SignError::TooManySignedHeaders`], [`SignError::InvalidSignedHeaderName`],
///   [`SignError::DuplicateSignedHeader`];
/// - a signature that is not exactly 64 lowercase hex digits (what every Huawei signer emits):
///   [`SignError::InvalidSignatureFormat`].
///
/// It does not check that `host` and `x-sdk-date` are signed; [`crate::verify`] does.
pub fn parse_authorization(value: &str) -> Result<Authorization, SignError> {
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(SignError::AuthorizationTooLong);
    }
    let value = value.trim();
    let (algorithm, rest) = match value.split_once([' ', '\t']) {
        Some(split) => split,
        None if value == ALGORITHM => {
            return Err(SignError::MalformedAuthorization(
                "no fields after the algorithm",
            ));
        }
        None => return Err(SignError::UnknownAlgorithm),
    };
    if algorithm != ALGORITHM {
        return Err(SignError::UnknownAlgorithm);
    }

    let mut access_key: Option<&str> = None;
    let mut signed_headers: Option<&str> = None;
    let mut signature: Option<&str> = None;
    for field in rest.split(',') {
        let field = field.trim();
        if field.is_empty() {
            return Err(SignError::MalformedAuthorization("empty field"));
        }
        let Some((key, val)) = field.split_once('=') else {
            return Err(SignError::MalformedAuthorization("field without '='"));
        };
        let (key, val) = (key.trim(), val.trim());
        let (slot, name, val) = if key.eq_ignore_ascii_case("Access") {
            (&mut access_key, "Access/Credential", val)
        } else if key.eq_ignore_ascii_case("Credential") {
            let ak = val.split_once('/').map_or(val, |(ak, _)| ak);
            (&mut access_key, "Access/Credential", ak)
        } else if key.eq_ignore_ascii_case("SignedHeaders") {
            (&mut signed_headers, "SignedHeaders", val)
        } else if key.eq_ignore_ascii_case("Signature") {
            (&mut signature, "Signature", val)
        } else {
            return Err(SignError::MalformedAuthorization("unknown field"));
        };
        if slot.is_some() {
            return Err(SignError::DuplicateAuthorizationField(name));
        }
        *slot = Some(val);
    }

    let access_key = access_key.ok_or(SignError::MalformedAuthorization("missing Access"))?;
    if access_key.is_empty() || !access_key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(SignError::MalformedAuthorization(
            "empty or invalid access key",
        ));
    }
    let signed_headers =
        signed_headers.ok_or(SignError::MalformedAuthorization("missing SignedHeaders"))?;
    let signature = signature.ok_or(SignError::MalformedAuthorization("missing Signature"))?;
    decode_signature(signature)?;
    Ok(Authorization {
        access_key: access_key.to_owned(),
        signed_headers: parse_signed_header_list(signed_headers)?,
        signature: signature.to_owned(),
    })
}
