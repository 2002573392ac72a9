//! Sign-then-verify behaviour: equivalences that must verify, tampering that must not.

use trainyard_sign::{SignError, Signer, parse_sdk_date};

use crate::{AK, SK, Wire, signature_of};

const DATE: &str = "20240101T000000Z";

fn base() -> Wire {
    Wire::new(
        "POST",
        "/v1/proj/training-jobs",
        "a=1&b=x%20y",
        &[
            ("Host", "127.0.0.1:8080"),
            ("Content-Type", "application/json"),
            ("X-Project-Id", "proj"),
        ],
        br#"{"job_name":"x"}"#,
    )
}

fn signed() -> Wire {
    base().signed(&Signer::new(AK, SK), DATE)
}

#[test]
fn round_trip() {
    assert_eq!(signed().verify(SK.as_bytes()), Ok(()));
}

#[test]
fn trailing_slash_equivalence() {
    let mut w = signed();
    w.path.push('/');
    assert_eq!(
        w.verify(SK.as_bytes()),
        Ok(()),
        "signed for /x, sent to /x/"
    );

    let mut slash = base();
    slash.path.push('/');
    let mut w = slash.signed(&Signer::new(AK, SK), DATE);
    w.path.pop();
    assert_eq!(
        w.verify(SK.as_bytes()),
        Ok(()),
        "signed for /x/, sent to /x"
    );
}

#[test]
fn header_values_are_trimmed() {
    let mut padded = base();
    padded.set_header("X-Project-Id", "  proj \t");
    let mut w = padded.signed(&Signer::new(AK, SK), DATE);
    w.set_header("X-Project-Id", "proj");
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
    w.set_header("X-Project-Id", " proj  ");
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
    w.set_header("X-Project-Id", "pro j");
    assert_eq!(w.verify(SK.as_bytes()), Err(SignError::SignatureMismatch));
}

#[test]
fn header_name_case_and_order_do_not_matter() {
    let mut w = signed();
    for (n, _) in &mut w.headers {
        *n = n.to_uppercase();
    }
    w.headers.reverse();
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
}

#[test]
fn mixed_case_signed_headers_in_any_order() {
    let w = signed();
    let sig = signature_of(w.header("Authorization").unwrap()).to_string();
    let mut m = w.clone();
    m.set_header(
        "Authorization",
        &format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=X-Sdk-Date;HOST;x-project-ID;Content-Type, Signature={sig}"
        ),
    );
    assert_eq!(m.verify(SK.as_bytes()), Ok(()));
}

#[test]
fn credential_form_and_field_order() {
    let w = signed();
    let sig = signature_of(w.header("Authorization").unwrap()).to_string();
    for auth in [
        format!(
            "SDK-HMAC-SHA256 Credential={AK}/20240101/region/modelarts/sdk_request, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={sig}"
        ),
        format!(
            "SDK-HMAC-SHA256 Credential={AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={sig}"
        ),
        format!(
            "SDK-HMAC-SHA256   Signature={sig},SignedHeaders=content-type;host;x-project-id;x-sdk-date ,  access = {AK}"
        ),
    ] {
        let mut m = w.clone();
        m.set_header("Authorization", &auth);
        assert_eq!(m.verify(SK.as_bytes()), Ok(()), "{auth}");
    }
}

#[test]
fn wrong_secret_fails() {
    let w = signed();
    assert_eq!(
        w.verify(b"MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHd"),
        Err(SignError::SignatureMismatch)
    );
    assert_eq!(w.verify(b""), Err(SignError::SignatureMismatch));
    let other = base().signed(&Signer::new(AK, format!("{SK}x")), DATE);
    assert_eq!(
        other.verify(SK.as_bytes()),
        Err(SignError::SignatureMismatch)
    );
}

/// A change made to a signed request.
type Tamper = fn(&mut Wire);

#[test]
fn tampering_fails() {
    let tampered: Vec<(&str, Tamper)> = vec![
        ("query value", |w| w.query = "a=2&b=x%20y".into()),
        ("query extra pair", |w| w.query.push_str("&c=1")),
        ("query dropped", |w| w.query.clear()),
        ("query plus vs %2B", |w| w.query = "a=1&b=x%2By".into()),
        ("path", |w| w.path = "/v1/other/training-jobs".into()),
        ("path segment split", |w| {
            w.path = "/v1/proj/training%20jobs".into()
        }),
        ("method", |w| w.method = "PUT".into()),
        ("body", |w| w.body.push(b' ')),
        ("signed header", |w| w.set_header("X-Project-Id", "other")),
        ("host", |w| w.set_header("Host", "127.0.0.1:8081")),
        ("date within skew", |w| {
            w.set_header("X-Sdk-Date", "20240101T000001Z")
        }),
        ("unsigned payload added", |w| {
            w.headers
                .push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()))
        }),
    ];
    let now = parse_sdk_date(DATE).unwrap();
    for (what, change) in tampered {
        let mut w = signed();
        change(&mut w);
        assert_eq!(
            w.verify_at(SK.as_bytes(), now),
            Err(SignError::SignatureMismatch),
            "{what}"
        );
    }
    // Unsigned headers may change freely.
    let mut w = signed();
    w.headers.push(("X-Request-Id".into(), "anything".into()));
    w.headers
        .push(("x_with_underscore".into(), "anything".into()));
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
}

#[test]
fn date_skew() {
    let w = signed();
    let t = parse_sdk_date(DATE).unwrap();
    let min = 60_000;
    for ok in [0, 14 * min, -14 * min, 15 * min, -15 * min] {
        assert_eq!(w.verify_at(SK.as_bytes(), t + ok), Ok(()), "{ok}");
    }
    for bad in [16 * min, -16 * min, 15 * min + 1, i64::MAX, i64::MIN] {
        assert_eq!(
            w.verify_at(SK.as_bytes(), t.saturating_add(bad)),
            Err(SignError::DateSkew),
            "{bad}"
        );
    }
}

#[test]
fn host_and_date_must_be_signed() {
    let w = base();
    let signer = Signer::new(AK, SK);
    let headers = w.header_refs();
    // Sign without Host: the signer cannot sign what is not there.
    let no_host: Vec<(&str, &str)> = headers
        .iter()
        .copied()
        .filter(|(n, _)| *n != "Host")
        .collect();
    let mut out = w.clone();
    out.headers = no_host
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    out.headers
        .extend(signer.sign(&w.method, &w.path, &w.query, &no_host, &w.body, DATE));
    out.headers.push(("Host".into(), "127.0.0.1:8080".into()));
    assert_eq!(
        out.verify(SK.as_bytes()),
        Err(SignError::RequiredHeaderNotSigned("host"))
    );
    assert_eq!(
        signer.try_sign(&w.method, &w.path, &w.query, &no_host, &w.body, DATE),
        Err(SignError::MissingHeader("host".into()))
    );

    // An Authorization header that leaves x-sdk-date out.
    let mut m = signed();
    let sig = signature_of(m.header("Authorization").unwrap()).to_string();
    m.set_header(
        "Authorization",
        &format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-project-id, Signature={sig}"),
    );
    assert_eq!(
        m.verify(SK.as_bytes()),
        Err(SignError::RequiredHeaderNotSigned("x-sdk-date"))
    );
}

#[test]
fn date_header_problems() {
    let now = parse_sdk_date(DATE).unwrap();
    let mut w = signed();
    w.set_header("X-Sdk-Date", "2024-01-01T00:00:00Z");
    assert_eq!(
        w.verify_at(SK.as_bytes(), now),
        Err(SignError::InvalidSdkDate)
    );
    let mut w = signed();
    w.headers.push(("x-sdk-date".into(), DATE.into()));
    assert_eq!(
        w.verify_at(SK.as_bytes(), now),
        Err(SignError::DuplicateHeader("x-sdk-date".into()))
    );
    let mut w = signed();
    w.headers.retain(|(n, _)| n != "X-Sdk-Date");
    assert_eq!(
        w.verify_at(SK.as_bytes(), now),
        Err(SignError::MissingHeader("x-sdk-date".into()))
    );
}

#[test]
fn signer_skips_underscore_and_ignores_given_date_and_authorization() {
    let mut w = base();
    w.headers.push(("X_Forwarded_Thing".into(), "1".into()));
    w.headers
        .push(("X-Sdk-Date".into(), "19990101T000000Z".into()));
    w.headers
        .push(("authorization".into(), "Basic Zm9v".into()));
    let added = Signer::new(AK, SK).sign(
        &w.method,
        &w.path,
        &w.query,
        &w.header_refs(),
        &w.body,
        DATE,
    );
    assert_eq!(added[0], ("X-Sdk-Date".to_string(), DATE.to_string()));
    assert!(
        added[1]
            .1
            .contains("SignedHeaders=content-type;host;x-project-id;x-sdk-date,"),
        "{added:?}"
    );
    // Same signature as without those extra headers.
    assert_eq!(added[1].1, signed().header("Authorization").unwrap());
}

#[test]
fn signer_leaves_duplicates_unsigned_try_sign_refuses() {
    let mut w = base();
    w.headers.push(("Accept".into(), "a".into()));
    w.headers.push(("accept".into(), "b".into()));
    let signer = Signer::new(AK, SK);
    let mut out = w.signed(&signer, DATE);
    assert!(!out.header("Authorization").unwrap().contains("accept"));
    assert_eq!(out.verify(SK.as_bytes()), Ok(()));
    out.set_header("accept", "c");
    assert_eq!(out.verify(SK.as_bytes()), Ok(()), "accept is not signed");
    assert_eq!(
        signer.try_sign(
            &w.method,
            &w.path,
            &w.query,
            &w.header_refs(),
            &w.body,
            DATE
        ),
        Err(SignError::DuplicateHeader("accept".into()))
    );
    assert_eq!(
        signer.try_sign(
            &w.method,
            &w.path,
            &w.query,
            &base().header_refs(),
            &w.body,
            "today"
        ),
        Err(SignError::InvalidSdkDate)
    );
}

#[test]
fn signer_on_unsignable_request_adds_date_only() {
    let signer = Signer::new(AK, SK);
    let added = signer.sign("GET /", "/", "", &[("Host", "h")], b"", DATE);
    assert_eq!(added, vec![("X-Sdk-Date".to_string(), DATE.to_string())]);
    assert_eq!(
        signer.try_sign("GET /", "/", "", &[("Host", "h")], b"", DATE),
        Err(SignError::InvalidMethod)
    );
}

#[test]
fn secret_never_printed() {
    let signer = Signer::new(AK, SK);
    let dbg = format!("{signer:?} {signer:#?}");
    assert!(dbg.contains(AK));
    assert!(!dbg.contains(SK) && !dbg.contains("MFyf"), "{dbg}");
    let out = signed();
    for (_, v) in &out.headers {
        assert!(!v.contains(SK));
    }
    let err = base()
        .signed(&Signer::new(AK, "other"), DATE)
        .verify(SK.as_bytes())
        .unwrap_err();
    assert!(!err.to_string().contains(SK));
}

#[test]
fn request_parts_debug_hides_header_values() {
    let headers = [("X-Auth-Token", "secret-token-value"), ("Host", "h")];
    let parts = trainyard_sign::RequestParts {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        body_sha256_hex: trainyard_sign::EMPTY_BODY_SHA256,
    };
    let dbg = format!("{parts:?}");
    assert!(
        dbg.contains("X-Auth-Token") && !dbg.contains("secret-token-value"),
        "{dbg}"
    );
}
