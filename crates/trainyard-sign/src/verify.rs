//! Server side: verify an incoming request (auth.md "AK/SK signing").

use hmac::Mac;

use crate::canonical::{decode_signature, hmac_for, single_header};
use crate::{
    Authorization, RequestParts, SignError, canonical_request, parse_sdk_date, string_to_sign,
};

/// Verify a signed request (auth.md "AK/SK signing").
///
/// `auth` comes from [`crate::parse_authorization`] of the request's `Authorization` header;
/// the caller looks up `secret_key` by `auth.access_key` (an unknown AK is the caller's 401).
/// `now_epoch_ms` is the server clock and `max_skew_ms` the allowed distance of `X-Sdk-Date`
/// from it ([`crate::DEFAULT_MAX_SKEW_MS`], 15 minutes, per the spec; the boundary itself is
/// accepted; a negative skew counts as 0).
///
/// Checks, cheapest first: `host` and `x-sdk-date` are signed
/// ([`SignError::RequiredHeaderNotSigned`]); the request has exactly one `X-Sdk-Date`
/// ([`SignError::MissingHeader`], [`SignError::DuplicateHeader`]) whose trimmed value is a valid
/// date ([`SignError::InvalidSdkDate`]) within the skew ([`SignError::DateSkew`]); the
/// signature is 64 lowercase hex digits ([`SignError::InvalidSignatureFormat`]); the canonical
/// request can be built (see [`canonical_request`] for its errors); and finally the HMAC matches,
/// compared in constant time with `Mac::verify_slice` ([`SignError::SignatureMismatch`]).
pub fn verify(
    parts: &RequestParts<'_>,
    auth: &Authorization,
    secret_key: &[u8],
    now_epoch_ms: i64,
    max_skew_ms: i64,
) -> Result<(), SignError> {
    for required in ["host", "x-sdk-date"] {
        if !auth
            .signed_headers
            .iter()
            .any(|n| n.eq_ignore_ascii_case(required))
        {
            return Err(SignError::RequiredHeaderNotSigned(required));
        }
    }
    let date = single_header(parts.headers, "x-sdk-date")?.trim();
    let signed_at = parse_sdk_date(date)?;
    if now_epoch_ms.abs_diff(signed_at) > max_skew_ms.max(0).unsigned_abs() {
        return Err(SignError::DateSkew);
    }
    let expected = decode_signature(&auth.signature)?;
    let canonical = canonical_request(parts, &auth.signed_headers)?;
    hmac_for(secret_key, &string_to_sign(date, &canonical))?
        .verify_slice(&expected)
        .map_err(|_| SignError::SignatureMismatch)
}
