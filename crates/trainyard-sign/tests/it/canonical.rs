//! One test per canonicalisation rule of auth.md "AK/SK signing", expected values by hand.

use trainyard_sign::{
    EMPTY_BODY_SHA256, RequestParts, SignError, canonical_query, canonical_request, canonical_uri,
    is_unsigned_payload,
};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn uri_encodes_each_segment() {
    // 训 = E8 AE AD, 练 = E7 BB 83 in UTF-8.
    assert_eq!(
        canonical_uri("/v1/p/a%20b/训练"),
        "/v1/p/a%20b/%E8%AE%AD%E7%BB%83/"
    );
    assert_eq!(
        canonical_uri("/v1/p/a%20b/%E8%AE%AD%E7%BB%83"),
        "/v1/p/a%20b/%E8%AE%AD%E7%BB%83/"
    );
    // Lowercase escapes and needlessly escaped unreserved characters are normalised.
    assert_eq!(canonical_uri("/%7e%41%2d/x"), "/~A-/x/");
    // Reserved characters are escaped; unreserved ones stay.
    assert_eq!(
        canonical_uri("/a:b@c!$'()*+,;=/-_.~"),
        "/a%3Ab%40c%21%24%27%28%29%2A%2B%2C%3B%3D/-_.~/"
    );
    // %2F decodes to a separator before splitting (as the reference does).
    assert_eq!(canonical_uri("/a%2Fb"), "/a/b/");
    // Invalid escapes stay literal, so their % is escaped.
    assert_eq!(canonical_uri("/100%/%zz/%4"), "/100%25/%25zz/%254/");
    // Non-UTF-8 bytes after decoding are kept byte for byte.
    assert_eq!(canonical_uri("/%FF%fe"), "/%FF%FE/");
}

#[test]
fn uri_always_ends_in_slash() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/x"), "/x/");
    assert_eq!(canonical_uri("/x/"), "/x/");
    assert_eq!(canonical_uri("//"), "//");
    assert_eq!(canonical_uri("/a//b"), "/a//b/");
}

#[test]
fn query_empty() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("&&"), "");
}

#[test]
fn query_sorted_by_name_then_value() {
    assert_eq!(canonical_query("b=2&a=2&a=10&a=1"), "a=1&a=10&a=2&b=2");
    // Byte order: uppercase before lowercase, shorter prefix first.
    assert_eq!(canonical_query("b=1&B=1&ab=1&a=1"), "B=1&a=1&ab=1&b=1");
    // Sorting is on decoded bytes: %41 is 'A' (0x41) and sorts before 'B'.
    assert_eq!(canonical_query("B=1&%41=1"), "A=1&B=1");
}

#[test]
fn query_repeated_and_empty_values() {
    assert_eq!(canonical_query("a=x&a=x&a="), "a=&a=x&a=x");
    assert_eq!(canonical_query("flag"), "flag=");
    assert_eq!(canonical_query("flag="), "flag=");
    assert_eq!(canonical_query("a=1&&b=&"), "a=1&b=");
    // A piece without '=' has an empty value and empty pieces are skipped, so these are equal.
    for q in ["a=&b", "a&&b", "a&b", "a&b=", "&a=&&b&"] {
        assert_eq!(canonical_query(q), "a=&b=", "{q}");
    }
    // An empty name is kept (the application sees it, so the signature covers it).
    assert_eq!(canonical_query("=v&a=1"), "=v&a=1");
    // Only the first '=' splits.
    assert_eq!(canonical_query("a=b=c"), "a=b%3Dc");
}

#[test]
fn query_plus_is_space_and_encoding_is_normalised() {
    assert_eq!(canonical_query("q=a+b"), "q=a%20b");
    assert_eq!(canonical_query("q=a%20b"), "q=a%20b");
    assert_eq!(canonical_query("q=a%2Bb"), "q=a%2Bb");
    assert_eq!(canonical_query("q=a%2bb"), "q=a%2Bb");
    assert_eq!(canonical_query("a+b=1"), "a%20b=1");
    assert_eq!(canonical_query("q=%7E%2d%41"), "q=~-A");
    assert_eq!(canonical_query("q=训"), "q=%E8%AE%AD");
    assert_eq!(canonical_query("q=%zz&r=100%"), "q=%25zz&r=100%25");
    assert_eq!(canonical_query("q=%26&r=%3D"), "q=%26&r=%3D");
}

fn parts<'a>(headers: &'a [(&'a str, &'a str)], body: &'a str) -> RequestParts<'a> {
    RequestParts {
        method: "get",
        path: "/x",
        query: "",
        headers,
        body_sha256_hex: body,
    }
}

#[test]
fn headers_lowercased_trimmed_sorted() {
    let headers = [
        ("X-Sdk-Date", "20240101T000000Z"),
        ("HOST", "  h:1 "),
        ("x-Custom", "\t a  b \t"),
        ("unsigned", "x"),
    ];
    let got = canonical_request(
        &parts(&headers, EMPTY_BODY_SHA256),
        &names(&["X-SDK-DATE", "Host", "x-custom"]),
    )
    .unwrap();
    assert_eq!(
        got,
        format!(
            "GET\n/x/\n\nhost:h:1\nx-custom:a  b\nx-sdk-date:20240101T000000Z\n\n\
             host;x-custom;x-sdk-date\n{EMPTY_BODY_SHA256}"
        )
    );
}

#[test]
fn duplicate_signed_header_is_rejected_unsigned_duplicate_is_fine() {
    let headers = [
        ("host", "h"),
        ("x-sdk-date", "20240101T000000Z"),
        ("accept", "a"),
        ("Accept", "b"),
    ];
    assert_eq!(
        canonical_request(
            &parts(&headers, EMPTY_BODY_SHA256),
            &names(&["host", "accept"])
        ),
        Err(SignError::DuplicateHeader("accept".into()))
    );
    assert!(canonical_request(&parts(&headers, EMPTY_BODY_SHA256), &names(&["host"])).is_ok());
}

#[test]
fn signed_header_list_errors() {
    let headers = [("host", "h")];
    let p = parts(&headers, EMPTY_BODY_SHA256);
    assert_eq!(
        canonical_request(&p, &names(&["host", "HOST"])),
        Err(SignError::DuplicateSignedHeader("host".into()))
    );
    assert_eq!(
        canonical_request(&p, &names(&["host", "x-missing"])),
        Err(SignError::MissingHeader("x-missing".into()))
    );
    assert_eq!(
        canonical_request(&p, &names(&["host", ""])),
        Err(SignError::InvalidSignedHeaderName)
    );
    assert_eq!(
        canonical_request(&p, &names(&["host", "a b"])),
        Err(SignError::InvalidSignedHeaderName)
    );
    let many: Vec<String> = (0..65).map(|i| format!("h{i}")).collect();
    assert_eq!(
        canonical_request(&p, &many),
        Err(SignError::TooManySignedHeaders)
    );
    let bad_value = [("host", "a\r\nx-evil: 1")];
    assert_eq!(
        canonical_request(&parts(&bad_value, EMPTY_BODY_SHA256), &names(&["host"])),
        Err(SignError::InvalidHeaderValue("host".into()))
    );
}

#[test]
fn method_and_body_hash_are_validated() {
    let headers = [("host", "h")];
    let mut p = parts(&headers, EMPTY_BODY_SHA256);
    p.method = "GET\nX";
    assert_eq!(
        canonical_request(&p, &names(&["host"])),
        Err(SignError::InvalidMethod)
    );
    p.method = "";
    assert_eq!(
        canonical_request(&p, &names(&["host"])),
        Err(SignError::InvalidMethod)
    );
    for bad in [
        "",
        "UNSIGNED-PAYLOAD",
        &EMPTY_BODY_SHA256.to_uppercase(),
        &EMPTY_BODY_SHA256[1..],
    ] {
        let p = parts(&headers, bad);
        assert_eq!(
            canonical_request(&p, &names(&["host"])),
            Err(SignError::InvalidBodyHash),
            "{bad:?}"
        );
    }
}

#[test]
fn unsigned_payload_replaces_body_hash() {
    let headers = [
        ("host", "h"),
        ("x-sdk-content-SHA256", " UNSIGNED-PAYLOAD "),
    ];
    assert!(is_unsigned_payload(&headers));
    // The body hash given is ignored, whatever it is.
    for body in ["", "UNSIGNED-PAYLOAD", EMPTY_BODY_SHA256] {
        let got = canonical_request(&parts(&headers, body), &names(&["host"])).unwrap();
        assert_eq!(got, "GET\n/x/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    }
    // Any other value of the header is not special: the real hash is used.
    let other = [("host", "h"), ("X-Sdk-Content-Sha256", "unsigned-payload")];
    assert!(!is_unsigned_payload(&other));
    let got = canonical_request(&parts(&other, EMPTY_BODY_SHA256), &names(&["host"])).unwrap();
    assert!(got.ends_with(EMPTY_BODY_SHA256));
    // Two of them are ambiguous and refused.
    let two = [
        ("host", "h"),
        ("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"),
        ("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD"),
    ];
    assert!(!is_unsigned_payload(&two));
    assert_eq!(
        canonical_request(&parts(&two, EMPTY_BODY_SHA256), &names(&["host"])),
        Err(SignError::DuplicateHeader("x-sdk-content-sha256".into()))
    );
}
