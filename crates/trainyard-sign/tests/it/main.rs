//! Integration tests of trainyard-sign (auth.md "AK/SK signing"): the spec's test vectors,
//! extra vectors from the Python reference signer, one test per canonicalisation rule,
//! malformed input, and property tests.

mod canonical;
mod malformed;
mod props;
mod vectors;
mod verifying;

use trainyard_sign::{
    DEFAULT_MAX_SKEW_MS, RequestParts, SignError, Signer, parse_authorization, parse_sdk_date,
    sha256_hex, verify,
};

/// Test-vector access key (auth.md).
pub const AK: &str = "QTWAOYTTINDUT2QVKYUC";
/// Test-vector secret key (auth.md).
pub const SK: &str = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";

/// An owned request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Wire {
    /// HTTP method.
    pub method: String,
    /// Raw path.
    pub path: String,
    /// Raw query, without `?`.
    pub query: String,
    /// Headers in send order.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Wire {
    /// A request from borrowed parts.
    pub fn new(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Self {
        Wire {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// Headers as borrowed pairs.
    pub fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// Sign with `signer` at `date` and return the request with the two headers added.
    pub fn signed(&self, signer: &Signer, date: &str) -> Wire {
        let added = signer.sign(
            &self.method,
            &self.path,
            &self.query,
            &self.header_refs(),
            &self.body,
            date,
        );
        assert_eq!(
            added.len(),
            2,
            "sign must add X-Sdk-Date and Authorization: {added:?}"
        );
        let mut out = self.clone();
        out.headers.extend(added);
        out
    }

    /// First value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replace the value of every header called `name` (any case).
    pub fn set_header(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_string();
            }
        }
    }

    /// Server side: parse the Authorization header and verify with `secret` at `now_ms`.
    pub fn verify_at(&self, secret: &[u8], now_ms: i64) -> Result<(), SignError> {
        let auth = parse_authorization(self.header("authorization").unwrap_or(""))?;
        let body_hash = sha256_hex(&self.body);
        let headers = self.header_refs();
        let parts = RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body_sha256_hex: &body_hash,
        };
        verify(&parts, &auth, secret, now_ms, DEFAULT_MAX_SKEW_MS)
    }

    /// Verify with `secret` at the request's own X-Sdk-Date.
    pub fn verify(&self, secret: &[u8]) -> Result<(), SignError> {
        let now = parse_sdk_date(self.header("x-sdk-date").unwrap_or("").trim())
            .expect("test request has a valid X-Sdk-Date");
        self.verify_at(secret, now)
    }
}

/// The Signature= value of an Authorization header.
pub fn signature_of(authorization: &str) -> &str {
    authorization
        .rsplit_once("Signature=")
        .map(|(_, s)| s)
        .unwrap_or("")
}
