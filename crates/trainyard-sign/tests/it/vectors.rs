//! auth.md test vectors A and B, plus vectors C–E computed with the Python reference signer.

use trainyard_sign::{
    EMPTY_BODY_SHA256, RequestParts, Signer, canonical_request, parse_authorization, sha256_hex,
    signature_hex, string_to_sign,
};

use crate::{AK, SK, Wire, signature_of};

const SIG_A: &str = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe";
const SIG_B: &str = "a68bd46a31f8b8e404627c7a24f20e1db6a9073a10a25e3787de6782c8b51092";

fn wire_a() -> Wire {
    Wire::new(
        "GET",
        "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
        &[
            ("Content-Type", "application/json"),
            ("Host", "service.region.example.com"),
        ],
        b"",
    )
}

fn wire_b() -> Wire {
    Wire::new(
        "GET",
        "/v1/0123456789abcdef0123456789abcdef/training-jobs",
        "per_page=10&page=1&sortBy=job_name&order=desc",
        &[
            ("Content-Type", "application/json"),
            ("Host", "127.0.0.1:8080"),
            ("User-Agent", "huaweicloud-usdk-python/3.0"),
            ("X-Project-Id", "0123456789abcdef0123456789abcdef"),
        ],
        b"",
    )
}

#[test]
fn vector_a_signer() {
    let signed = wire_a().signed(&Signer::new(AK, SK), "20191115T033655Z");
    assert_eq!(signed.header("X-Sdk-Date"), Some("20191115T033655Z"));
    assert_eq!(
        signed.header("Authorization"),
        Some(
            "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
             SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        )
    );
    assert_eq!(
        Signer::new(AK, SK)
            .try_sign(
                "GET",
                &signed.path,
                &signed.query,
                &wire_a().header_refs(),
                b"",
                "20191115T033655Z"
            )
            .unwrap(),
        signed.headers[2..].to_vec()
    );
}

#[test]
fn vector_a_verify() {
    let mut w = wire_a();
    w.headers
        .push(("X-Sdk-Date".into(), "20191115T033655Z".into()));
    w.headers.push((
        "Authorization".into(),
        format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-sdk-date, Signature={SIG_A}"),
    ));
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
}

#[test]
fn vector_a_low_level() {
    let headers = [
        ("Content-Type", "application/json"),
        ("Host", "service.region.example.com"),
        ("X-Sdk-Date", "20191115T033655Z"),
    ];
    let parts = RequestParts {
        method: "GET",
        path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query: "limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
        headers: &headers,
        body_sha256_hex: EMPTY_BODY_SHA256,
    };
    let signed = [
        "content-type".to_string(),
        "host".into(),
        "x-sdk-date".into(),
    ];
    let canonical = canonical_request(&parts, &signed).unwrap();
    // Written by hand from the auth.md rules.
    assert_eq!(
        canonical,
        "GET\n/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
         limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
         content-type:application/json\nhost:service.region.example.com\nx-sdk-date:20191115T033655Z\n\n\
         content-type;host;x-sdk-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(EMPTY_BODY_SHA256, sha256_hex(b""));
    let sts = string_to_sign("20191115T033655Z", &canonical);
    assert!(sts.starts_with("SDK-HMAC-SHA256\n20191115T033655Z\n"));
    assert_eq!(signature_hex(SK.as_bytes(), &sts), SIG_A);
}

#[test]
fn vector_b_signer() {
    let signed = wire_b().signed(&Signer::new(AK, SK), "20240101T000000Z");
    let auth = parse_authorization(signed.header("Authorization").unwrap()).unwrap();
    assert_eq!(auth.access_key, AK);
    assert_eq!(
        auth.signed_headers,
        [
            "content-type",
            "host",
            "user-agent",
            "x-project-id",
            "x-sdk-date"
        ]
    );
    assert_eq!(auth.signature, SIG_B);
}

#[test]
fn vector_b_verify() {
    let mut w = wire_b();
    w.headers
        .push(("X-Sdk-Date".into(), "20240101T000000Z".into()));
    w.headers.push((
        "Authorization".into(),
        format!(
            "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, Signature={SIG_B}"
        ),
    ));
    assert_eq!(w.verify(SK.as_bytes()), Ok(()));
}

/// Vector C: computed with the Python reference signer, `python3 -c 'import sys;
/// sys.path.insert(0, "/work/shared/conformance"); import conformance as c;
/// print(c.sign("POST", "/v1/p/a%20b/训练", [("b",""),("a","2"),("a","1"),("a b","x+y"),("c","")],
/// {"Host":"127.0.0.1:8080","Content-Type":"application/json","X-Project-Id":"  padded value \t",
///  "X-Sdk-Date":"20240101T000000Z"}, b"{\"a\":1}", SK))'`.
/// The raw query below is how those pairs look on the wire (`c` without `=`).
#[test]
fn vector_c_python_reference_post_encoded_path_query() {
    let w = Wire::new(
        "post",
        "/v1/p/a%20b/%E8%AE%AD%E7%BB%83",
        "b=&a=2&a=1&a%20b=x%2By&c",
        &[
            ("Host", "127.0.0.1:8080"),
            ("Content-Type", "application/json"),
            ("X-Project-Id", "  padded value \t"),
        ],
        br#"{"a":1}"#,
    );
    let signed = w.signed(&Signer::new(AK, SK), "20240101T000000Z");
    assert_eq!(
        signature_of(signed.header("Authorization").unwrap()),
        "62c1297a2ed0fdf3a5657f0ffca2f1c27659c7f2a02a63289651b0dd78ad19eb"
    );
    // The reference's canonical request, printed by the same call.
    let headers = signed.header_refs();
    let body_hash = sha256_hex(&w.body);
    let parts = RequestParts {
        method: "post",
        path: "/v1/p/a b/训练",
        query: &w.query,
        headers: &headers,
        body_sha256_hex: &body_hash,
    };
    let names: Vec<String> = ["x-sdk-date", "X-Project-Id", "host", "Content-Type"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        canonical_request(&parts, &names).unwrap(),
        "POST\n/v1/p/a%20b/%E8%AE%AD%E7%BB%83/\na=1&a=2&a%20b=x%2By&b=&c=\n\
         content-type:application/json\nhost:127.0.0.1:8080\nx-project-id:padded value\n\
         x-sdk-date:20240101T000000Z\n\ncontent-type;host;x-project-id;x-sdk-date\n\
         015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    );
    assert_eq!(signed.verify(SK.as_bytes()), Ok(()));
}

/// Vector D: Python reference, `c.sign("PUT", "/trainyard/v1/p/job-history", [],
/// {"Host":"127.0.0.1:8080","Content-Type":"application/x-ndjson",
///  "X-Sdk-Content-Sha256":"UNSIGNED-PAYLOAD","X-Sdk-Date":"20240101T000000Z"}, b'{"x":1}\n', SK)`.
#[test]
fn vector_d_python_reference_unsigned_payload() {
    let w = Wire::new(
        "PUT",
        "/trainyard/v1/p/job-history",
        "",
        &[
            ("Host", "127.0.0.1:8080"),
            ("Content-Type", "application/x-ndjson"),
            ("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"),
        ],
        b"{\"x\":1}\n",
    );
    let mut signed = w.signed(&Signer::new(AK, SK), "20240101T000000Z");
    assert_eq!(
        signed.header("Authorization").unwrap(),
        "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
         SignedHeaders=content-type;host;x-sdk-content-sha256;x-sdk-date, \
         Signature=f452f1cdceafa0abcef7e4548340a5792b6e0b59fb20f389a6e6937f5fd3d52f"
    );
    assert_eq!(signed.verify(SK.as_bytes()), Ok(()));
    // The body is not covered: another body still verifies.
    signed.body = b"something else entirely".to_vec();
    assert_eq!(signed.verify(SK.as_bytes()), Ok(()));
}

/// Vector E: Python reference, `c.sign("GET", "/v1/p/training-jobs",
/// [("q","a b"),("r","+"),("q","a")], {"Host":"localhost","X-Sdk-Date":"20240101T000000Z"}, b"", SK)`.
/// On the wire the space is sent as `+` and the plus as `%2B` (form encoding).
#[test]
fn vector_e_python_reference_plus_is_space() {
    let w = Wire::new(
        "GET",
        "/v1/p/training-jobs",
        "q=a+b&r=%2B&q=a",
        &[("Host", "localhost")],
        b"",
    );
    let signed = w.signed(&Signer::new(AK, SK), "20240101T000000Z");
    assert_eq!(
        signature_of(signed.header("Authorization").unwrap()),
        "1ee064ffb15b375a71cc7ec952039cfeb2ac6101afd38ff83acfaae3d78f5f8c"
    );
    // %20 for the space is the same request.
    let mut other = signed.clone();
    other.query = "q=a%20b&r=%2B&q=a".into();
    assert_eq!(other.verify(SK.as_bytes()), Ok(()));
}
