//! egulias 3.x's `LabelTooLong` for a non-ASCII label: what PHP's
//! `idn_to_ascii($label, IDNA_DEFAULT, INTL_IDNA_VARIANT_UTS46, $info)` flags as
//! `IDNA_ERROR_LABEL_TOO_LONG`, i.e. what ICU's UTS #46 `nameToASCII` does with default options.
//!
//! ICU there maps the whole string with the UTS #46 data (disallowed characters become U+FFFD,
//! ignored ones vanish, the rest is NFC), splits on the mapped dots, and flags a label whose ACE
//! form (`xn--` + RFC 3492 punycode, or the label itself when ASCII) exceeds 63 octets. The
//! `IDNA_DEFAULT` options mean transitional processing (`ß` and `ẞ` become `ss`, `ς` becomes
//! `σ`, ZWJ and ZWNJ vanish), no STD3 rules, no bidi or joiner checks. The mapping and the
//! punycode are the `idna` crate's (its UTS #46 mapper, `icu_normalizer`, and its punycode
//! encoder); `idna`'s own `to_ascii` can't be used whole because it always checks bidi and
//! joiners, which ICU's default doesn't, and reports no per-label lengths. Only the
//! transitional pre-mapping and ICU's rule of measuring no label with a severe error (checked
//! against ICU 72 through PHP: a disallowed character, a leading combining mark, an `xn--`
//! label that doesn't decode) are done here. No table is kept in this repository.

use icu_normalizer::uts46::Uts46MapperBorrowed;
use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};

/// The longest label ICU lets through, in octets of its ACE form.
const MAX_OCTETS: usize = 63;

/// True when ICU flags a label of `domain` (dots included) as longer than 63 octets.
pub fn label_too_long(domain: &str) -> bool {
    let transitional = domain.chars().flat_map(|c| {
        let (a, b) = match c {
            'ß' | '\u{1E9E}' => (Some('s'), Some('s')),
            'ς' => (Some('σ'), None),
            '\u{200C}' | '\u{200D}' => (None, None),
            c => (Some(c), None),
        };
        a.into_iter().chain(b)
    });
    const MAPPER: Uts46MapperBorrowed<'static> = Uts46MapperBorrowed::new();
    let mut label: Vec<char> = Vec::with_capacity(MAX_OCTETS + 1);
    for c in MAPPER.map_normalize(transitional).chain(['.']) {
        if c != '.' {
            label.push(c);
        } else if too_long(&label) {
            return true;
        } else {
            label.clear();
        }
    }
    false
}

/// One mapped label. ICU measures only labels without "severe" errors: none holds U+FFFD (a
/// disallowed character), none starts with a combining mark, and an `xn--` label must decode.
fn too_long(label: &[char]) -> bool {
    let ascii = label.iter().all(char::is_ascii);
    if let ['x', 'n', '-', '-', rest @ ..] = label {
        let rest: String = rest.iter().collect();
        return ascii
            && rest.len() < 2000
            && idna::punycode::decode(&rest).is_some()
            && label.len() > MAX_OCTETS;
    }
    if ascii {
        return label.len() > MAX_OCTETS;
    }
    let severe =
        label.contains(&'\u{FFFD}') || label.first().is_some_and(|&c| is_combining_mark(c));
    if severe {
        return false;
    }
    // The ACE form is `xn--` and at least one character per input character.
    label.len() + 4 > MAX_OCTETS
        || idna::punycode::encode(label).is_none_or(|p| 4 + p.len() > MAX_OCTETS)
}

/// General category M (Mn, Mc, Me).
fn is_combining_mark(c: char) -> bool {
    let gc = CodePointMapData::<GeneralCategory>::new().get(c);
    GeneralCategoryGroup::Mark.contains(gc)
}

#[cfg(test)]
mod tests {
    use super::label_too_long;

    #[test]
    fn measures_the_ace_form_after_mapping() {
        // `ﬁ` maps to `fi` (ASCII): 2 octets each.
        assert!(!label_too_long(&format!(
            "{}{}",
            "ﬁ".repeat(25),
            "a".repeat(13)
        )));
        assert!(label_too_long(&format!(
            "{}{}",
            "ﬁ".repeat(25),
            "a".repeat(14)
        )));
        // `ß` is `ss` under transitional processing.
        assert!(label_too_long(&format!(
            "{}{}",
            "ß".repeat(30),
            "a".repeat(4)
        )));
        // Dots split: U+3002 maps to `.`.
        assert!(!label_too_long(&format!("{0}\u{3002}{0}", "ä".repeat(20))));
        assert!(label_too_long(&"ä".repeat(1 << 20)));
    }
}
