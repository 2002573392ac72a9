//! Client side: sign an outgoing request (auth.md "AK/SK signing").

use std::fmt;

use crate::canonical::{canonical_request, is_unsigned_payload, sha256_hex, signature_hex};
use crate::{
    Authorization, HEADER_AUTHORIZATION, HEADER_SDK_DATE, RequestParts, SignError,
    UNSIGNED_PAYLOAD, is_token, parse_sdk_date, string_to_sign,
};

/// An access key (AK) and its secret key (SK), able to sign requests
/// (auth.md "AK/SK signing").
///
/// `Debug` prints the access key only; the secret never appears in `Debug`, `Display`, error
/// messages or the produced headers.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret_key: Vec<u8>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// What to do with a header that cannot be signed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Leave it unsigned.
    Lenient,
    /// Fail.
    Strict,
}

impl Signer {
    /// A signer for access key `access_key` with secret `secret_key`; the secret's bytes are the
    /// HMAC key as they are (for a textual SK, pass its UTF-8 bytes, e.g. `"MFy...".as_bytes()`
    /// or a `String`).
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<Vec<u8>>) -> Self {
        Signer {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// The access key (AK), which is not secret.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Sign a request; returns the headers to add, in this order:
    /// `("X-Sdk-Date", sdk_date)` and `("Authorization", "SDK-HMAC-SHA256 Access=.., SignedHeaders=.., Signature=..")`.
    ///
    /// Inputs: `path` and `raw_query` exactly as they will be sent (see [`RequestParts`]);
    /// `headers` every header that will be sent, which must include `Host` (as sent, port
    /// included); `body` the raw body; `sdk_date` from [`crate::sdk_date`].
    ///
    /// Signed: like the Python reference, every given header whose name has no `_`, plus
    /// `x-sdk-date`. Any `X-Sdk-Date` or `Authorization` in `headers` is ignored (send the
    /// returned ones instead). If `headers` has `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, `body`
    /// is not hashed.
    ///
    /// Never fails and never panics: a header that cannot be signed unambiguously (repeated
    /// name, invalid name, line break in the value) is left unsigned, and a request that cannot
    /// be signed at all (invalid method, more than 64 signable headers, repeated
    /// `X-Sdk-Content-Sha256`) gets the `X-Sdk-Date` header only, so the server answers 401.
    /// A missing `Host` is not signed, which the server refuses too. Use [`Signer::try_sign`]
    /// to get these problems as errors instead.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        sdk_date: &str,
    ) -> Vec<(String, String)> {
        match self.sign_with(
            Mode::Lenient,
            method,
            path,
            raw_query,
            headers,
            body,
            sdk_date,
        ) {
            Ok(out) => out,
            Err(_) => vec![(HEADER_SDK_DATE.to_owned(), sdk_date.to_owned())],
        }
    }

    /// Like [`Signer::sign`], but fails instead of signing something the server would refuse.
    ///
    /// Errors: [`SignError::InvalidSdkDate`] (`sdk_date` not `YYYYMMDDTHHMMSSZ`),
    /// [`SignError::MissingHeader`] (no `Host`), [`SignError::DuplicateHeader`] (a signable
    /// header given twice), [`SignError::InvalidSignedHeaderName`] (a header name that is not an
    /// HTTP token), [`SignError::InvalidHeaderValue`], [`SignError::InvalidMethod`],
    /// [`SignError::TooManySignedHeaders`].
    pub fn try_sign(
        &self,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        sdk_date: &str,
    ) -> Result<Vec<(String, String)>, SignError> {
        parse_sdk_date(sdk_date)?;
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            return Err(SignError::MissingHeader("host".to_owned()));
        }
        self.sign_with(
            Mode::Strict,
            method,
            path,
            raw_query,
            headers,
            body,
            sdk_date,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn sign_with(
        &self,
        mode: Mode,
        method: &str,
        path: &str,
        raw_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        sdk_date: &str,
    ) -> Result<Vec<(String, String)>, SignError> {
        let mut all: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case(HEADER_SDK_DATE)
                    && !n.eq_ignore_ascii_case(HEADER_AUTHORIZATION)
            })
            .copied()
            .collect();
        all.push((HEADER_SDK_DATE, sdk_date));

        let mut signed: Vec<String> = Vec::with_capacity(all.len());
        for (i, (name, value)) in all.iter().enumerate() {
            if name.contains('_') {
                continue;
            }
            let problem = if !is_token(name) {
                Some(SignError::InvalidSignedHeaderName)
            } else if all
                .iter()
                .enumerate()
                .any(|(j, (other, _))| j != i && other.eq_ignore_ascii_case(name))
            {
                Some(SignError::DuplicateHeader(name.to_ascii_lowercase()))
            } else if value.contains(['\r', '\n']) {
                Some(SignError::InvalidHeaderValue(name.to_ascii_lowercase()))
            } else {
                None
            };
            match (problem, mode) {
                (None, _) => signed.push(name.to_ascii_lowercase()),
                (Some(_), Mode::Lenient) => {}
                (Some(e), Mode::Strict) => return Err(e),
            }
        }

        let body_hash = if is_unsigned_payload(&all) {
            UNSIGNED_PAYLOAD.to_owned()
        } else {
            sha256_hex(body)
        };
        let parts = RequestParts {
            method,
            path,
            query: raw_query,
            headers: &all,
            body_sha256_hex: &body_hash,
        };
        let canonical = canonical_request(&parts, &signed)?;
        let signature = signature_hex(
            &self.secret_key,
            &string_to_sign(sdk_date.trim(), &canonical),
        );
        signed.sort();
        let auth = Authorization {
            access_key: self.access_key.clone(),
            signed_headers: signed,
            signature,
        };
        Ok(vec![
            (HEADER_SDK_DATE.to_owned(), sdk_date.to_owned()),
            (HEADER_AUTHORIZATION.to_owned(), auth.to_string()),
        ])
    }
}
