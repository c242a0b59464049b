//! A one-pass check for the plain ASCII addresses that make up almost every real file.
//!
//! [`accepts`] says `true` only for `local@domain` where the local part is dot-separated runs of
//! letters, digits and `_ % + - '`, and the domain is two or more dot-separated labels of
//! letters, digits and inner hyphens (each at most 62 octets, the domain at most 253), with no
//! `IPv6` token anywhere. Every such address is valid under the full rule
//! ([`super::email::is_valid_email`]), so a `true` here can skip it; `false` only means "ask
//! the full rule", never "invalid". The differential tests below hold that promise against the
//! full rule, whatever it becomes.
//!
//! Called by [`super::check_contact`] before the full rule, so the sandbox and import share it.
//!
//! [`contact_passes`] does the same for a whole row: import's planner asks it first, on the
//! borrowed cells, and builds the JSON map for [`super::check_contact`] only when it says
//! `false` (or the row is sent). Its differential test holds it against `check_contact`.

/// True when `s` has the plain shape above (and is therefore valid). False: not decided here.
pub fn accepts(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(at) = memchr_at(b) else {
        return false;
    };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    plain_local(local) && plain_domain(domain) && !contains_ipv6(b)
}

/// True when the client's pre-check ([`super::check_contact`], [`super::Mode::Create`]) surely
/// passes a payload of `email`, the string fields `texts` and the id lists `lists` (every
/// present value, as it will be sent), and booleans sent as JSON `true`/`false`. False: ask
/// `check_contact`, which may still pass it.
pub fn contact_passes<'s>(
    email: &str,
    texts: impl IntoIterator<Item = &'s str>,
    lists: impl IntoIterator<Item = &'s str>,
) -> bool {
    within_max(email)
        && accepts(email)
        && texts.into_iter().all(within_max)
        && lists
            .into_iter()
            .all(|l| !super::text_list_is_surely_malformed(l))
}

/// `max:255` counts characters; a string of at most 255 bytes needs no counting.
fn within_max(s: &str) -> bool {
    s.len() <= super::MAX_STRING_CHARS || s.chars().count() <= super::MAX_STRING_CHARS
}

fn memchr_at(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'@')
}

/// Dot-separated, non-empty atoms of `[A-Za-z0-9_%+'-]`.
fn plain_local(local: &[u8]) -> bool {
    let mut prev_dot = true; // a leading dot is refused like a doubled one
    for &c in local {
        if c == b'.' {
            if prev_dot {
                return false;
            }
            prev_dot = true;
        } else if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'%' | b'+' | b'-' | b'\'') {
            prev_dot = false;
        } else {
            return false;
        }
    }
    !prev_dot
}

/// Two or more labels of `[A-Za-z0-9-]`, starting and ending with a letter or digit, each at
/// most 62 octets (egulias counts a label's leading dot against the 63), at most 253 in all.
fn plain_domain(domain: &[u8]) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let mut labels = 0;
    for label in domain.split(|&c| c == b'.') {
        let ok = (1..=62).contains(&label.len())
            && label[0].is_ascii_alphanumeric()
            && label[label.len() - 1].is_ascii_alphanumeric()
            && label
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'-');
        if !ok {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}

/// egulias lexes `IPv6` (exactly, after a non-letter) as its own token, refused in a domain.
/// Any occurrence sends the address to the full rule.
fn contains_ipv6(b: &[u8]) -> bool {
    (0..b.len()).any(|i| b[i] == b'I' && b[i..].starts_with(b"IPv6"))
}

#[cfg(test)]
mod tests {
    use super::{accepts, contact_passes};
    use crate::validate::email::is_valid_email;
    use crate::validate::{Mode, check_contact};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Must hold for every string: a fast `true` is a full-rule `true`.
    fn agrees(s: &str) -> Result<(), TestCaseError> {
        if accepts(s) {
            prop_assert!(
                is_valid_email(s),
                "fast path accepts {s:?}, the full rule rejects it"
            );
        }
        Ok(())
    }

    #[test]
    fn takes_the_common_shapes() {
        for s in [
            "john@doe.ie",
            "a.b+c@sub.example.co.uk",
            "o'brien@example.com",
            "First.Last_99%x@Mail-1.Example.COM",
            "user.123@example.com",
        ] {
            assert!(accepts(s), "{s}");
            assert!(is_valid_email(s), "{s}");
        }
    }

    #[test]
    fn passes_the_common_row_and_nothing_doubtful() {
        let none = std::iter::empty::<&str>;
        let e255 = "é".repeat(255);
        assert!(contact_passes("john@doe.ie", ["John", &e255], ["1, 2"]));
        assert!(!contact_passes("john@doe.ie", [&*"é".repeat(256)], none()));
        assert!(!contact_passes("john@doe.ie", none(), ["1;2"]));
        assert!(!contact_passes("a b@c.d", none(), none()));
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(!contact_passes(&long, none(), none()));
    }

    #[test]
    fn leaves_the_rest_to_the_full_rule() {
        let x62 = "x".repeat(62);
        for s in [
            "",
            "a@b",
            ".a@b.c",
            "a.@b.c",
            "a..b@c.d",
            "a@b..c",
            "a@-b.c",
            "a@b-.c",
            "a@b.c-",
            "a@IPv6.com",
            "\"a\"@b.c",
            "a b@c.d",
            "a@b.c ",
            "a@[1.2.3.4]",
            "a(b)c@d.e",
            "ä@b.c",
            "a@b@c.d",
        ] {
            assert!(!accepts(s), "{s:?}");
        }
        assert!(accepts(&format!("a@{x62}.{x62}")));
        assert!(!accepts(&format!("a@{x62}x.b")));
        let long = format!("a@{}b", format!("{}.", &x62[..49]).repeat(6));
        assert!(long.len() - 2 > 253 && !accepts(&long));
    }

    /// Every string of up to 6 characters over the alphabet the fast path cares about.
    #[test]
    fn exhaustive_short_strings() {
        const ALPHABET: &[u8] = b"a1.@-_'";
        let mut bad = Vec::new();
        let mut s = Vec::new();
        for len in 0..=6u32 {
            for mut n in 0..ALPHABET.len().pow(len) {
                s.clear();
                for _ in 0..len {
                    s.push(ALPHABET[n % ALPHABET.len()]);
                    n /= ALPHABET.len();
                }
                let text = std::str::from_utf8(&s).expect("ASCII");
                if accepts(text) && !is_valid_email(text) {
                    bad.push(text.to_string());
                }
            }
        }
        assert!(
            bad.is_empty(),
            "fast path accepts what the full rule rejects: {bad:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Close to the accepted shapes, where a disagreement would hide.
        #[test]
        fn never_accepts_what_the_full_rule_rejects(
            s in "[a-zA-Z0-9_%+'.@()\\[\\]\" -]{0,12}(IPv6|ipv6|@)?[a-zA-Z0-9.-]{0,12}"
        ) {
            agrees(&s)?;
        }

        #[test]
        fn never_accepts_what_the_full_rule_rejects_on_any_ascii(s in "[ -~]{0,40}") {
            agrees(&s)?;
        }

        /// A whole row: `contact_passes` never says yes where `check_contact` refuses.
        #[test]
        fn contact_passes_only_what_check_contact_passes(
            email in "[a-zA-Z0-9.@_+ -]{0,10}(@|\\.|IPv6)?[a-z.é-]{0,8}",
            long in 250usize..260,
            texts in proptest::collection::vec(proptest::option::of("[a-zé ]{0,3}"), 2),
            lists in proptest::collection::vec(proptest::option::of("[0-9, ;a\t-]{0,6}"), 2),
            bools in proptest::collection::vec(proptest::option::of(any::<bool>()), 2),
            stretch in 0usize..3,
        ) {
            let mut texts = texts;
            if stretch < 2 {
                // Around the 255-character limit, counted in characters (é is 2 bytes).
                let filler = if stretch == 0 { "x" } else { "é" };
                texts[stretch] = Some(filler.repeat(long));
            }
            let mut map = Map::new();
            map.insert("email".into(), Value::String(email.clone()));
            for (key, v) in ["first_name", "last_name"].into_iter().zip(&texts) {
                if let Some(v) = v {
                    map.insert(key.into(), Value::String(v.clone()));
                }
            }
            for (key, v) in ["tag_ids", "sequence_ids"].into_iter().zip(&lists) {
                if let Some(v) = v {
                    map.insert(key.into(), Value::String(v.clone()));
                }
            }
            for (key, v) in ["email_marketing", "gdpr"].into_iter().zip(&bools) {
                if let Some(v) = v {
                    map.insert(key.into(), Value::Bool(*v));
                }
            }
            let fast = contact_passes(
                &email,
                texts.iter().flatten().map(String::as_str),
                lists.iter().flatten().map(String::as_str),
            );
            if fast {
                prop_assert_eq!(check_contact(&map, Mode::Create), Ok(()), "{:?}", map);
            }
        }

        #[test]
        fn long_labels_and_domains(label in 55usize..70, count in 1usize..6, tail in "[a-z]{0,3}") {
            let domain = format!("{}.", "y".repeat(label)).repeat(count) + "co" + &tail;
            agrees(&format!("x@{domain}"))?;
        }
    }
}
