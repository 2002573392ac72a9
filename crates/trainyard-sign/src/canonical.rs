//! The canonical request (auth.md "AK/SK signing", step 2) and the string to sign (step 3).

use std::fmt;

use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use sha2::{Digest, Sha256};

use crate::{
    ALGORITHM, HEADER_CONTENT_SHA256, MAX_SIGNED_HEADERS, SignError, UNSIGNED_PAYLOAD, is_token,
};

/// RFC 3986 unreserved characters stay; every other byte is `%XX` (uppercase hex).
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) type HmacSha256 = hmac::Hmac<Sha256>;

/// A request as seen on the wire, the input of [`canonical_request`] and [`crate::verify`].
///
/// Shapes (auth.md "AK/SK signing"):
/// - `method`: the HTTP method as received (any case; it is upper-cased in the canonical form).
/// - `path`: the raw request path as sent (may be percent-encoded), without `?` and query.
/// - `query`: the raw query string as sent, without the leading `?`; `""` when there is none.
/// - `headers`: every header as received, name in any case, value untrimmed. Repeated names
///   appear as repeated entries (see [`canonical_request`] for what happens then). On HTTP/2
///   the server must pass the `:authority` as a `host` entry.
/// - `body_sha256_hex`: lowercase hex SHA-256 of the raw body ([`EMPTY_BODY_SHA256`] when empty,
///   see [`sha256_hex`]). **Unsigned payload:** when the request carries
///   `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` (see [`is_unsigned_payload`]), the body line of the
///   canonical request is the literal `UNSIGNED-PAYLOAD` and this field is ignored, so a server
///   need not hash (or even buffer) such a body before verifying; pass `""` or
///   [`UNSIGNED_PAYLOAD`] then.
///
/// [`EMPTY_BODY_SHA256`]: crate::EMPTY_BODY_SHA256
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Raw path as sent, may be percent-encoded, no query.
    pub path: &'a str,
    /// Raw query string as sent (without `?`), may be empty.
    pub query: &'a str,
    /// Header names (any case) and values as received.
    pub headers: &'a [(&'a str, &'a str)],
    /// Lowercase hex SHA-256 of the raw body; ignored for `UNSIGNED-PAYLOAD` requests.
    pub body_sha256_hex: &'a str,
}

/// Prints header names only: values may be bearer tokens (`X-Auth-Token`) and must not reach logs.
impl fmt::Debug for RequestParts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("RequestParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("header_names", &names)
            .field("body_sha256_hex", &self.body_sha256_hex)
            .finish()
    }
}

/// Lowercase hex SHA-256 of `data` (64 characters), the body hash of auth.md "AK/SK signing".
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The body hash computed piece by piece, for a body that arrives in chunks:
/// `BodyHasher::default()`, [`BodyHasher::update`] per chunk, then [`BodyHasher::finish_hex`]
/// (equal to [`sha256_hex`] of the whole body).
#[derive(Clone, Debug, Default)]
pub struct BodyHasher(Sha256);

impl BodyHasher {
    /// Adds the next bytes of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// Lowercase hex SHA-256 of everything added (64 characters).
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Whether the request opted out of body hashing: it has exactly one `X-Sdk-Content-Sha256`
/// header (name in any case) whose trimmed value is exactly `UNSIGNED-PAYLOAD`
/// (auth.md "AK/SK signing", "Body hash"). Any other value of that header is ignored (the body
/// hash is then the real one); more than one such header makes [`canonical_request`] fail.
pub fn is_unsigned_payload(headers: &[(&str, &str)]) -> bool {
    let mut found = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(HEADER_CONTENT_SHA256));
    matches!((found.next(), found.next()), (Some((_, v)), None) if v.trim() == UNSIGNED_PAYLOAD)
}

/// Canonical URI (auth.md "AK/SK signing", step 2): the path percent-decoded (invalid `%`
/// sequences stay as they are, `%2F` becomes a separator), split on `/`, each segment's bytes
/// percent-encoded (only `A-Z a-z 0-9 - _ . ~` stay), joined with `/`, and always ending in `/`.
///
/// `"/v1/p/a%20b/训练"` → `"/v1/p/a%20b/%E8%AE%AD%E7%BB%83/"`; `""` → `"/"`; `"/x"` and `"/x/"`
/// both → `"/x/"`. Never fails.
pub fn canonical_uri(path: &str) -> String {
    let decoded: Vec<u8> = percent_decode(path.as_bytes()).collect();
    let mut out = String::with_capacity(decoded.len() + 1);
    for (i, segment) in decoded.split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(percent_encode(segment, ENCODE_SET));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Decode one query component: `+` is a space, then `%XX` sequences are decoded to bytes
/// (invalid ones stay literal). The result may be any bytes, not necessarily UTF-8.
fn decode_query_component(raw: &str) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space).collect()
}

/// Canonical query (auth.md "AK/SK signing", step 2) from the raw query string as sent.
///
/// Parsing follows `application/x-www-form-urlencoded`, as Python's `urllib.parse.parse_qsl`
/// (with `keep_blank_values=True`), Go's `url.ParseQuery` (used by Huawei's Go signer) and the
/// server's own query parser (`serde_urlencoded`) do:
/// - split on `&`, empty pieces (`a&&b`, a trailing `&`) are skipped;
/// - each piece splits at its first `=`; no `=` means an empty value (`flag` ≡ `flag=`); an
///   empty name (`=v`) is kept and signed;
/// - **`+` decodes to a space**, then `%XX` is decoded to bytes (invalid sequences stay literal).
///   So `a+b`, `a%20b` and `a b` all canonicalise to `a%20b`, and a literal plus must be sent as
///   `%2B`. huaweicloudsdkcore and the conformance runner always send `%20` / `%2B` (they put
///   the canonical query itself on the wire), and `reqwest`/`serde_urlencoded` send `+` for a
///   space, so all of them verify; only Huawei's older APIG Python demo signer (which uses
///   `unquote`) would read a raw `+` as a plus. Decoding `+` the same way the application does
///   means the signature covers the values the handler actually sees.
///
/// Pairs are sorted by decoded name, then decoded value (byte order), each written as
/// `enc(name)=enc(value)` (an empty value keeps the `=`), joined with `&`. `""` for an empty
/// query. Never fails.
///
/// `"b=&a=2&a=1&c"` → `"a=1&a=2&b=&c="`.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = raw_query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (decode_query_component(name), decode_query_component(value))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(percent_encode(name, ENCODE_SET));
        out.push('=');
        out.extend(percent_encode(value, ENCODE_SET));
    }
    out
}

/// Lowercase, validate, sort and de-duplicate-check a signed-header list.
pub(crate) fn normalize_signed_headers<S: AsRef<str>>(
    names: &[S],
) -> Result<Vec<String>, SignError> {
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(SignError::TooManySignedHeaders);
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name.as_ref();
        if !is_token(name) {
            return Err(SignError::InvalidSignedHeaderName);
        }
        out.push(name.to_ascii_lowercase());
    }
    out.sort();
    if let Some(w) = out.windows(2).find(|w| w[0] == w[1]) {
        return Err(SignError::DuplicateSignedHeader(w[0].clone()));
    }
    Ok(out)
}

/// The single value of header `name` (case-insensitive) in `headers`.
pub(crate) fn single_header<'a>(
    headers: &[(&'a str, &'a str)],
    name: &str,
) -> Result<&'a str, SignError> {
    let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (Some((_, v)), None) => Ok(v),
        (None, _) => Err(SignError::MissingHeader(name.to_owned())),
        (Some(_), Some(_)) => Err(SignError::DuplicateHeader(name.to_owned())),
    }
}

fn is_lower_hex_64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn decode_signature(sig: &str) -> Result<[u8; 32], SignError> {
    let mut out = [0u8; 32];
    if !is_lower_hex_64(sig) {
        return Err(SignError::InvalidSignatureFormat);
    }
    hex::decode_to_slice(sig, &mut out).map_err(|_| SignError::InvalidSignatureFormat)?;
    Ok(out)
}

/// Canonical request (auth.md "AK/SK signing", step 2): these six parts joined with `\n`:
/// upper-cased method, [`canonical_uri`], [`canonical_query`], the canonical headers (for each
/// signed header in sorted order, `lowercase-name:trimmed-value\n`), the signed-header list
/// (`;`-joined) and the body hash (see [`RequestParts`] for `UNSIGNED-PAYLOAD`).
///
/// `signed_headers` may be in any case and order; they are lowercased and sorted here.
///
/// Errors: [`SignError::TooManySignedHeaders`] (more than 64),
/// [`SignError::InvalidSignedHeaderName`], [`SignError::DuplicateSignedHeader`],
/// [`SignError::MissingHeader`] (a signed header absent from the request),
/// [`SignError::DuplicateHeader`] (**a signed header, or `X-Sdk-Content-Sha256`, that occurs
/// more than once is rejected** rather than joined: Huawei's signers disagree on how to join —
/// the Python SDK cannot even send duplicates, the Go signer emits one line per sorted value —
/// and an ambiguous signed value is exactly what a signature must not allow; repeated
/// *unsigned* headers are fine), [`SignError::InvalidHeaderValue`] (CR/LF in a signed value),
/// [`SignError::InvalidMethod`], [`SignError::InvalidBodyHash`].
///
/// This function does not require `host`/`x-sdk-date` to be signed; [`crate::verify`] does.
pub fn canonical_request(
    parts: &RequestParts<'_>,
    signed_headers: &[String],
) -> Result<String, SignError> {
    if !is_token(parts.method) {
        return Err(SignError::InvalidMethod);
    }
    let names = normalize_signed_headers(signed_headers)?;
    let unsigned = is_unsigned_payload(parts.headers);
    if !unsigned {
        // Also catches a duplicated X-Sdk-Content-Sha256, which is_unsigned_payload refuses.
        if parts
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(HEADER_CONTENT_SHA256))
            .nth(1)
            .is_some()
        {
            return Err(SignError::DuplicateHeader(
                HEADER_CONTENT_SHA256.to_ascii_lowercase(),
            ));
        }
        if !is_lower_hex_64(parts.body_sha256_hex) {
            return Err(SignError::InvalidBodyHash);
        }
    }
    let body_line = if unsigned {
        UNSIGNED_PAYLOAD
    } else {
        parts.body_sha256_hex
    };

    let mut out = String::with_capacity(256 + parts.path.len() + parts.query.len());
    out.push_str(&parts.method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&canonical_uri(parts.path));
    out.push('\n');
    out.push_str(&canonical_query(parts.query));
    out.push('\n');
    for name in &names {
        let value = single_header(parts.headers, name)?.trim();
        if value.contains(['\r', '\n']) {
            return Err(SignError::InvalidHeaderValue(name.clone()));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(body_line);
    Ok(out)
}

/// String to sign (auth.md "AK/SK signing", step 3):
/// `SDK-HMAC-SHA256\n{sdk_date}\n{lowercase hex SHA-256 of canonical_request}`.
///
/// `sdk_date` is the `X-Sdk-Date` value (trimmed) exactly as sent. Never fails.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub(crate) fn hmac_for(secret_key: &[u8], string_to_sign: &str) -> Result<HmacSha256, SignError> {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret_key).map_err(|_| SignError::InvalidKey)?;
    mac.update(string_to_sign.as_bytes());
    Ok(mac)
}

/// Signature (auth.md "AK/SK signing", step 4): lowercase hex HMAC-SHA256 (64 characters) of
/// `string_to_sign`, keyed with the secret key's bytes used directly (for a textual SK, its UTF-8
/// bytes). Never fails: HMAC accepts keys of any length.
pub fn signature_hex(secret_key: &[u8], string_to_sign: &str) -> String {
    match hmac_for(secret_key, string_to_sign) {
        Ok(mac) => hex::encode(mac.finalize().into_bytes()),
        // Unreachable for HMAC-SHA256; an empty string can never verify.
        Err(_) => String::new(),
    }
}
