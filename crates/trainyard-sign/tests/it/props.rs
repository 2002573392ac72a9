//! Property tests: sign-then-verify round-trips; single-byte changes to the query or the
//! signature break verification; arbitrary input never panics.

use proptest::prelude::*;
use trainyard_sign::{
    Signer, canonical_query, canonical_uri, parse_authorization, parse_sdk_date, sdk_date,
};

use crate::{AK, SK, Wire};

const RESERVED: [&str; 4] = [
    "host",
    "x-sdk-date",
    "authorization",
    "x-sdk-content-sha256",
];

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9 %._~+:@!-]{0,8}|[训练é/]{1,3}", 0..6)
        .prop_map(|segments| format!("/{}", segments.join("/")))
}

/// Raw (ASCII) query strings, including `+`, `%` escapes (valid or not), empty pieces and values.
fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            "[a-zA-Z0-9+%._~-]{0,6}",
            prop::option::of("[a-zA-Z0-9+%=._~-]{0,8}|%[0-9a-fA-F]{2}"),
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| match v {
                Some(v) => format!("{n}={v}"),
                None => n,
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z][A-Za-z0-9_-]{0,10}", "[ -~]{0,20}"), 0..8).prop_map(|hs| {
        let mut out: Vec<(String, String)> = Vec::new();
        for (n, v) in hs {
            let lower = n.to_ascii_lowercase();
            if !RESERVED.contains(&lower.as_str())
                && !out.iter().any(|(o, _)| o.eq_ignore_ascii_case(&n))
            {
                out.push((n, v));
            }
        }
        out
    })
}

prop_compose! {
    fn request()(
        method in "GET|POST|PUT|DELETE|get|patch",
        path in path(),
        query in query(),
        host in "[a-z0-9.]{1,12}(:[0-9]{1,5})?",
        extra in headers(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        unsigned in any::<bool>(),
    ) -> Wire {
        let mut w = Wire::new(&method, &path, &query, &[("Host", &host)], &body);
        w.headers.extend(extra);
        if unsigned {
            w.headers.push(("X-Sdk-Content-Sha256".into(), "UNSIGNED-PAYLOAD".into()));
        }
        w
    }
}

fn date() -> impl Strategy<Value = String> {
    (0i64..4_102_444_800_000).prop_map(sdk_date)
}

/// The single-byte changes that keep a raw query's meaning, by design (see `canonical_query`):
/// - flipping the case of a hex digit inside a `%XX` escape;
/// - `+` ↔ space (both decode to a space);
/// - `name=` ↔ `name&` when the value is empty and the next piece is empty: `a=&b`, `a&&b` and
///   `a&b` are all `a=&b=` (a piece without `=` has an empty value, empty pieces are skipped).
fn benign(orig: &[u8], i: usize, new: u8) -> bool {
    let old = orig[i];
    let plus_space = matches!((old, new), (b'+', b' ') | (b' ', b'+'));
    let in_escape =
        (i >= 1 && orig[i - 1] == b'%' && orig.get(i + 1).is_some_and(u8::is_ascii_hexdigit))
            || (i >= 2 && orig[i - 2] == b'%' && orig[i - 1].is_ascii_hexdigit());
    let hex_case = old.is_ascii_alphabetic()
        && old.is_ascii_hexdigit()
        && new.is_ascii_hexdigit()
        && old != new
        && old.eq_ignore_ascii_case(&new)
        && in_escape;
    // The piece (between '&'s) that ends just before i, and whether a piece boundary follows i.
    let start = orig[..i]
        .iter()
        .rposition(|&b| b == b'&')
        .map_or(0, |p| p + 1);
    let before = &orig[start..i];
    let next_piece_empty = matches!(orig.get(i + 1), None | Some(b'&'));
    let empty_value = match (old, new) {
        // "name=" + boundary -> "name&" + boundary: the '=' is the piece's first one.
        (b'=', b'&') | (b'&', b'=') => {
            !before.is_empty() && !before.contains(&b'=') && next_piece_empty
        }
        _ => false,
    };
    plus_space || hex_case || empty_value
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(w in request(), date in date()) {
        let signed = w.signed(&Signer::new(AK, SK), &date);
        prop_assert_eq!(signed.verify(SK.as_bytes()), Ok(()));
        // And the request sent to the path with/without its trailing slash.
        let mut other = signed.clone();
        if other.path.ends_with('/') { other.path.pop(); } else { other.path.push('/'); }
        if canonical_uri(&other.path) == canonical_uri(&signed.path) {
            prop_assert_eq!(other.verify(SK.as_bytes()), Ok(()));
        }
    }

    #[test]
    fn single_byte_query_change_fails(
        w in request(),
        date in date(),
        pos in any::<prop::sample::Index>(),
        shift in 1u8..95,
    ) {
        let mut w = w;
        if w.query.is_empty() {
            w.query = "q=".into();
        }
        let signed = w.signed(&Signer::new(AK, SK), &date);
        let orig = signed.query.as_bytes().to_vec();
        let i = pos.index(orig.len());
        // Another printable ASCII byte (0x20..=0x7e), never the original one.
        let new = 0x20 + (orig[i] - 0x20 + shift) % 95;
        let mut bytes = orig.clone();
        bytes[i] = new;
        let mut tampered = signed.clone();
        tampered.query = String::from_utf8(bytes).expect("ASCII stays ASCII");
        let same = canonical_query(&tampered.query) == canonical_query(&signed.query);
        prop_assert_eq!(same, benign(&orig, i, new), "{:?} -> {:?}", signed.query, tampered.query);
        if same {
            prop_assert_eq!(tampered.verify(SK.as_bytes()), Ok(()));
        } else {
            prop_assert!(tampered.verify(SK.as_bytes()).is_err());
        }
    }

    #[test]
    fn single_byte_signature_change_fails(
        w in request(),
        date in date(),
        pos in 0usize..64,
        shift in 1u8..128,
    ) {
        let signed = w.signed(&Signer::new(AK, SK), &date);
        let auth = signed.header("Authorization").unwrap().to_string();
        let start = auth.find("Signature=").unwrap() + "Signature=".len();
        prop_assert_eq!(auth.len() - start, 64);
        let mut bytes = auth.clone().into_bytes();
        // Another ASCII byte, never the original one.
        bytes[start + pos] = (bytes[start + pos] + shift) % 128;
        let mut tampered = signed.clone();
        tampered.set_header("Authorization", &String::from_utf8(bytes).unwrap());
        prop_assert!(tampered.verify(SK.as_bytes()).is_err());
    }

    #[test]
    fn arbitrary_input_never_panics(
        s in ".{0,200}",
        method in ".{0,8}",
        name in ".{0,10}",
        date in ".{0,20}",
        now in any::<i64>(),
        skew in any::<i64>(),
    ) {
        let _ = parse_authorization(&s);
        let _ = parse_authorization(&format!("SDK-HMAC-SHA256 {s}"));
        let _ = canonical_uri(&s);
        let _ = canonical_query(&s);
        let _ = parse_sdk_date(&date);
        let headers = [("host", s.as_str()), (name.as_str(), s.as_str()), ("x-sdk-date", date.as_str())];
        let signer = Signer::new(AK, SK);
        let _ = signer.sign(&method, &s, &s, &headers, s.as_bytes(), &date);
        let _ = signer.try_sign(&method, &s, &s, &headers, s.as_bytes(), &date);
        let auth = trainyard_sign::Authorization {
            access_key: AK.into(),
            signed_headers: vec!["host".into(), name.to_ascii_lowercase(), "x-sdk-date".into()],
            signature: s.clone(),
        };
        let parts = trainyard_sign::RequestParts {
            method: &method, path: &s, query: &s, headers: &headers, body_sha256_hex: &s,
        };
        let _ = trainyard_sign::verify(&parts, &auth, SK.as_bytes(), now, skew);
        let _ = trainyard_sign::canonical_request(&parts, &auth.signed_headers);
    }

    #[test]
    fn sdk_date_round_trips(ms in -62_167_219_200_000i64..253_402_300_800_000) {
        let s = sdk_date(ms);
        prop_assert_eq!(s.len(), 16);
        prop_assert_eq!(parse_sdk_date(&s), Ok(ms - ms.rem_euclid(1000)));
    }
}
