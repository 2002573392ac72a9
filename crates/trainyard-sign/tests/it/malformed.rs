//! Malformed Authorization headers give an error, never a panic.

use trainyard_sign::{MAX_AUTHORIZATION_LEN, SignError, parse_authorization};

use crate::{AK, SK, Wire};

const SIG: &str = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe";
const SH: &str = "content-type;host;x-sdk-date";

fn malformed(what: &'static str) -> Result<(), SignError> {
    Err(SignError::MalformedAuthorization(what))
}

#[test]
fn well_formed_parses() {
    let a = parse_authorization(&format!(
        "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=X-Sdk-Date;Host;content-type, Signature={SIG}"
    ))
    .unwrap();
    assert_eq!(a.access_key, AK);
    assert_eq!(a.signed_headers, ["content-type", "host", "x-sdk-date"]);
    assert_eq!(a.signature, SIG);
    assert_eq!(
        a.to_string(),
        format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG}")
    );
    let c = parse_authorization(&format!(
        "SDK-HMAC-SHA256 Credential={AK}/20191115/r/s/sdk_request, SignedHeaders={SH}, Signature={SIG}"
    ))
    .unwrap();
    assert_eq!(c, a);
}

#[test]
fn missing_parts() {
    let cases: Vec<(String, Result<(), SignError>)> = vec![
        (String::new(), Err(SignError::UnknownAlgorithm)),
        (
            "SDK-HMAC-SHA256".into(),
            malformed("no fields after the algorithm"),
        ),
        (
            "SDK-HMAC-SHA256 ".into(),
            malformed("no fields after the algorithm"),
        ),
        (
            format!("SDK-HMAC-SHA256 SignedHeaders={SH}, Signature={SIG}"),
            malformed("missing Access"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, Signature={SIG}"),
            malformed("missing SignedHeaders"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}"),
            malformed("missing Signature"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access=, SignedHeaders={SH}, Signature={SIG}"),
            malformed("empty or invalid access key"),
        ),
        (
            format!("SDK-HMAC-SHA256 Credential=/x, SignedHeaders={SH}, Signature={SIG}"),
            malformed("empty or invalid access key"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG},"),
            malformed("empty field"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK},, SignedHeaders={SH}, Signature={SIG}"),
            malformed("empty field"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access {AK}, SignedHeaders={SH}, Signature={SIG}"),
            malformed("field without '='"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG}, Extra=1"),
            malformed("unknown field"),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=, Signature={SIG}"),
            Err(SignError::InvalidSignedHeaderName),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;;x-sdk-date, Signature={SIG}"),
            Err(SignError::InvalidSignedHeaderName),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x sdk, Signature={SIG}"),
            Err(SignError::InvalidSignedHeaderName),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature="),
            Err(SignError::InvalidSignatureFormat),
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={}",
                &SIG[1..]
            ),
            Err(SignError::InvalidSignatureFormat),
        ),
        (
            format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG}0"),
            Err(SignError::InvalidSignatureFormat),
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={}",
                SIG.to_uppercase()
            ),
            Err(SignError::InvalidSignatureFormat),
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={}g",
                &SIG[1..]
            ),
            Err(SignError::InvalidSignatureFormat),
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={}训",
                &SIG[3..]
            ),
            Err(SignError::InvalidSignatureFormat),
        ),
    ];
    for (header, want) in cases {
        assert_eq!(parse_authorization(&header).map(|_| ()), want, "{header:?}");
    }
}

#[test]
fn wrong_algorithm() {
    for alg in [
        "SDK-HMAC-SHA1",
        "sdk-hmac-sha256",
        "AWS4-HMAC-SHA256",
        "Basic",
        "SDK-HMAC-SHA256x",
        "Bearer",
    ] {
        let h = format!("{alg} Access={AK}, SignedHeaders={SH}, Signature={SIG}");
        assert_eq!(
            parse_authorization(&h),
            Err(SignError::UnknownAlgorithm),
            "{h}"
        );
    }
    assert_eq!(
        parse_authorization("Basic"),
        Err(SignError::UnknownAlgorithm)
    );
    assert_eq!(
        parse_authorization(&format!(
            "SDK-HMAC-SHA256,Access={AK}, SignedHeaders={SH}, Signature={SIG}"
        )),
        Err(SignError::UnknownAlgorithm)
    );
}

#[test]
fn duplicate_keys() {
    let cases = [
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, Access={AK}, SignedHeaders={SH}, Signature={SIG}"
            ),
            "Access/Credential",
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, Credential={AK}/x, SignedHeaders={SH}, Signature={SIG}"
            ),
            "Access/Credential",
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, signedheaders=host, Signature={SIG}"
            ),
            "SignedHeaders",
        ),
        (
            format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG}, Signature={SIG}"
            ),
            "Signature",
        ),
    ];
    for (h, field) in cases {
        assert_eq!(
            parse_authorization(&h),
            Err(SignError::DuplicateAuthorizationField(field)),
            "{h}"
        );
    }
    assert_eq!(
        parse_authorization(&format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=host;x-sdk-date;HOST, Signature={SIG}"
        )),
        Err(SignError::DuplicateSignedHeader("host".into()))
    );
}

#[test]
fn oversized_headers() {
    // 100 KB header: refused before parsing.
    let big = format!(
        "SDK-HMAC-SHA256 Access={}, SignedHeaders={SH}, Signature={SIG}",
        "A".repeat(100_000)
    );
    assert_eq!(
        parse_authorization(&big),
        Err(SignError::AuthorizationTooLong)
    );
    let big = "x".repeat(100 * 1024);
    assert_eq!(
        parse_authorization(&big),
        Err(SignError::AuthorizationTooLong)
    );
    // Exactly at the limit is parsed (and fails for other reasons).
    let at_limit = format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SH}, Signature={SIG}");
    let pad = MAX_AUTHORIZATION_LEN - at_limit.len();
    let at_limit = format!("{}{at_limit}", " ".repeat(pad));
    assert_eq!(at_limit.len(), MAX_AUTHORIZATION_LEN);
    assert!(parse_authorization(&at_limit).is_ok());
    // 64 signed headers are fine, 65 are not.
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("h{i}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    assert_eq!(
        parse_authorization(&format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={}, Signature={SIG}",
            names(64)
        ))
        .unwrap()
        .signed_headers
        .len(),
        64
    );
    for n in [65, 1000] {
        assert_eq!(
            parse_authorization(&format!(
                "SDK-HMAC-SHA256 Access={AK}, SignedHeaders={}, Signature={SIG}",
                names(n)
            )),
            Err(SignError::TooManySignedHeaders)
        );
    }
}

#[test]
fn malformed_header_on_a_request_is_an_error() {
    let mut w = Wire::new(
        "GET",
        "/",
        "",
        &[("Host", "h"), ("X-Sdk-Date", "20240101T000000Z")],
        b"",
    );
    for bad in [
        "",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SHA256 Access=a",
        "\u{0}\u{ffff}",
        "SDK-HMAC-SHA256 ,,,,====",
    ] {
        w.headers.retain(|(n, _)| n != "Authorization");
        w.headers.push(("Authorization".into(), bad.into()));
        assert!(w.verify(SK.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn error_messages_are_one_line() {
    let errors = [
        SignError::AuthorizationTooLong,
        SignError::UnknownAlgorithm,
        SignError::MalformedAuthorization("missing Access"),
        SignError::DuplicateAuthorizationField("Signature"),
        SignError::InvalidSignatureFormat,
        SignError::TooManySignedHeaders,
        SignError::InvalidSignedHeaderName,
        SignError::DuplicateSignedHeader("host".into()),
        SignError::RequiredHeaderNotSigned("host"),
        SignError::MissingHeader("host".into()),
        SignError::DuplicateHeader("host".into()),
        SignError::InvalidHeaderValue("host".into()),
        SignError::InvalidMethod,
        SignError::InvalidBodyHash,
        SignError::InvalidSdkDate,
        SignError::DateSkew,
        SignError::InvalidKey,
        SignError::SignatureMismatch,
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{e:?}: {msg:?}");
        let _: &dyn std::error::Error = &e;
    }
}
