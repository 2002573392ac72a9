//! Text rules shared by names and search: NFC normalisation and Unicode simple case folding
//! (`training-jobs.md` §1, `list.md` "Semantics" 3).

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

/// Returns `s` in Unicode Normalization Form C (composed), so a decomposed `Ä` sent by macOS is
/// the same name as the composed one.
pub fn nfc(s: &str) -> String {
    match is_nfc_quick(s.chars()) {
        unicode_normalization::IsNormalized::Yes => s.to_owned(),
        _ => s.nfc().collect(),
    }
}

/// Simple case folding of one character (Unicode `CaseFolding.txt`, statuses C and S):
/// one character in, one character out.
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    unicode_case_mapping::case_folded(c)
        .and_then(|cp| char::from_u32(cp.get()))
        .unwrap_or(c)
}

/// NFC then simple case folding of every character: the form in which job names are indexed
/// and `search_content` is matched (a literal substring test on the folded forms).
pub fn search_fold(s: &str) -> String {
    let n = nfc(s);
    if n.is_ascii() {
        return n.to_ascii_lowercase();
    }
    n.chars().map(fold_char).collect()
}

/// Number of Unicode scalar values (what every length rule of the contract counts).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_follows_simple_case_folding() {
        assert_eq!(search_fold("Ärger-RUN"), "ärger-run");
        assert_eq!(search_fold("ÑANDÚ"), "ñandú");
        // final sigma and capital sigma fold to the same letter
        assert_eq!(search_fold("Σς"), "σσ");
        // capital sharp s folds to ß (simple folding keeps one character)
        assert_eq!(search_fold("ẞ"), "ß");
        assert_eq!(search_fold("训练"), "训练");
    }

    #[test]
    fn nfc_composes() {
        let decomposed = "A\u{0308}rger";
        assert_eq!(nfc(decomposed), "Ärger");
        assert_eq!(search_fold(decomposed), "ärger");
        assert_eq!(char_len("训练"), 2);
    }
}
