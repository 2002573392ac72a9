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
    let date = check_before_body(parts, auth, now_epoch_ms, max_skew_ms)?;
    let expected = decode_signature(&auth.signature)?;
    let canonical = canonical_request(parts, &auth.signed_headers)?;
    hmac_for(secret_key, &string_to_sign(date, &canonical))?
        .verify_slice(&expected)
        .map_err(|_| SignError::SignatureMismatch)
}

/// Every check of [`verify`] that does not need the body or the secret key, so that a server
/// can refuse a request before reading (and holding) its body: `host` and `x-sdk-date` are
/// signed, `X-Sdk-Date` is present once, valid and within the skew, the signature is 64 hex
/// digits, and the canonical request can be built from the method, path, query and signed
/// headers (`parts.body_sha256_hex` is not looked at). Returns the trimmed `X-Sdk-Date`.
/// Errors: as [`verify`], except [`SignError::SignatureMismatch`] and
/// [`SignError::InvalidBodyHash`].
pub fn check_before_body<'a>(
    parts: &RequestParts<'a>,
    auth: &Authorization,
    now_epoch_ms: i64,
    max_skew_ms: i64,
) -> Result<&'a str, SignError> {
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
    decode_signature(&auth.signature)?;
    let placeholder = RequestParts {
        body_sha256_hex: crate::EMPTY_BODY_SHA256,
        ..*parts
    };
    canonical_request(&placeholder, &auth.signed_headers)?;
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EMPTY_BODY_SHA256, parse_authorization};

    fn auth(signed: &str) -> Authorization {
        parse_authorization(&format!(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders={signed}, Signature={}",
            "a".repeat(64)
        ))
        .unwrap()
    }

    #[test]
    fn checks_before_the_body() {
        let now = parse_sdk_date("20240101T000000Z").unwrap();
        let headers = [("host", "h:1"), ("x-sdk-date", "20240101T000000Z")];
        let parts = RequestParts {
            method: "POST",
            path: "/v1/p/x",
            query: "",
            headers: &headers,
            body_sha256_hex: "not a hash: the body is not read yet",
        };
        let a = auth("host;x-sdk-date");
        assert_eq!(
            check_before_body(&parts, &a, now, 900_000),
            Ok("20240101T000000Z")
        );
        assert_eq!(
            check_before_body(&parts, &a, now + 900_001, 900_000),
            Err(SignError::DateSkew)
        );
        assert_eq!(
            check_before_body(&parts, &auth("host"), now, 900_000),
            Err(SignError::RequiredHeaderNotSigned("x-sdk-date"))
        );
        assert_eq!(
            check_before_body(&parts, &auth("content-type;host;x-sdk-date"), now, 900_000),
            Err(SignError::MissingHeader("content-type".into()))
        );
        // The full verification still checks the body hash.
        let parts = RequestParts {
            body_sha256_hex: EMPTY_BODY_SHA256,
            ..parts
        };
        assert_eq!(
            verify(&parts, &a, b"sk", now, 900_000),
            Err(SignError::SignatureMismatch)
        );
    }

    #[test]
    fn body_hasher_equals_the_one_shot_hash() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = crate::BodyHasher::default();
        for chunk in body.chunks(7_919) {
            h.update(chunk);
        }
        assert_eq!(h.finish_hex(), crate::sha256_hex(&body));
        assert_eq!(crate::BodyHasher::default().finish_hex(), EMPTY_BODY_SHA256);
    }
}
