//! Percent-encoding of paths and query strings with the signer's RFC 3986 rules (`auth.md`
//! "AK/SK signing", step 2): only `A-Z a-z 0-9 - _ . ~` stay, every other byte of the UTF-8 form
//! becomes `%XX` with uppercase hex. The SDK builds every URL itself with these rules, so what
//! it signs is byte for byte what it sends.

/// Percent-encodes one path segment, query name or query value (`auth.md` "AK/SK signing",
/// step 2): only `A-Z a-z 0-9 - _ . ~` stay, every other UTF-8 byte becomes `%XX` (uppercase).
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Encodes query pairs with [`encode_component`], in the order given, as `name=value` joined by `&` (an empty value keeps
/// its `=`). Returns `""` for no pairs.
pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode_component(k.as_ref()));
        out.push('=');
        out.push_str(&encode_component(v.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_stay_everything_else_is_encoded() {
        assert_eq!(encode_component("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(
            encode_component("a b+c/d,e%f*g'h"),
            "a%20b%2Bc%2Fd%2Ce%25f%2Ag%27h"
        );
        assert_eq!(encode_component("训练"), "%E8%AE%AD%E7%BB%83");
        assert_eq!(encode_component("Ä"), "%C3%84");
        assert_eq!(encode_component(""), "");
    }

    #[test]
    fn queries_keep_order_and_empty_values() {
        assert_eq!(encode_query::<&str, &str>(&[]), "");
        assert_eq!(
            encode_query(&[("a", "1"), ("b", ""), ("a", "x y")]),
            "a=1&b=&a=x%20y"
        );
    }
}
