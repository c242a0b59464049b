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
///
/// One pass over the bytes with a class table: this runs once per row of every import, and
/// the loops it replaced (find `@`, check the local part, split the domain, look for `IPv6`)
/// cost a dry run more than parsing the row. A test holds it to those loops, kept there.
pub fn accepts(s: &str) -> bool {
    let b = s.as_bytes();
    // The local part, up to the first `@`: dot-separated runs of LOCAL bytes. The usual byte
    // takes the first test; `.`, `@`, `I` (of `IPv6`) and anything else the match.
    let mut at = None;
    let mut prev_dot = true; // a leading dot is refused like a doubled one
    for (i, &c) in b.iter().enumerate() {
        if CLASS[usize::from(c)] & LOCAL != 0 {
            prev_dot = false;
            continue;
        }
        match c {
            b'@' => {
                at = Some(i);
                break;
            }
            b'.' if prev_dot => return false,
            b'.' => prev_dot = true,
            b'I' if !b[i..].starts_with(b"IPv6") => prev_dot = false,
            _ => return false,
        }
    }
    let Some(at) = at else {
        return false;
    };
    let domain = &b[at + 1..];
    if prev_dot || domain.len() > 253 {
        return false;
    }
    // Labels of letters, digits and inner hyphens, 1 to 62 long.
    let (mut labels, mut len, mut hyphen_last) = (0, 0usize, false);
    for (j, &c) in domain.iter().enumerate() {
        if CLASS[usize::from(c)] & LABEL != 0 {
            len += 1;
            hyphen_last = false;
            continue;
        }
        match c {
            b'.' if len == 0 || len > 62 || hyphen_last => return false,
            b'.' => {
                labels += 1;
                len = 0;
            }
            b'-' if len > 0 => {
                len += 1;
                hyphen_last = true;
            }
            b'I' if !domain[j..].starts_with(b"IPv6") => {
                len += 1;
                hyphen_last = false;
            }
            _ => return false,
        }
    }
    (1..=62).contains(&len) && !hyphen_last && labels >= 1
}

/// A byte of a plain local part (`[A-Za-z0-9_%+'-]`) other than `I`, which may start `IPv6`.
const LOCAL: u8 = 1;
/// A letter or digit of a domain label other than `I`; the hyphen, allowed inside a label
/// only, is left to the slow arm too.
const LABEL: u8 = 2;
const CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        // `I` is in neither: both loops look for `IPv6` first.
        if b.is_ascii_alphanumeric() && b != b'I' {
            class[c] = LOCAL | LABEL;
        } else if matches!(b, b'_' | b'%' | b'+' | b'\'' | b'-') {
            class[c] = LOCAL;
        }
        c += 1;
    }
    class
};

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

#[cfg(test)]
mod tests {
    use super::{accepts, contact_passes};
    use crate::validate::email::is_valid_email;
    use crate::validate::{Mode, check_contact};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// The loops [`accepts`] replaced, written for reading rather than speed: the one-pass
    /// version must decide every string as they do.
    fn reference(s: &str) -> bool {
        let b = s.as_bytes();
        let Some(at) = b.iter().position(|&c| c == b'@') else {
            return false;
        };
        let (local, domain) = (&b[..at], &b[at + 1..]);
        let local_ok = !local.is_empty()
            && local.split(|&c| c == b'.').all(|atom| {
                !atom.is_empty()
                    && atom.iter().all(|&c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'_' | b'%' | b'+' | b'-' | b'\'')
                    })
            });
        let labels: Vec<&[u8]> = domain.split(|&c| c == b'.').collect();
        let domain_ok = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                (1..=62).contains(&l.len())
                    && l[0].is_ascii_alphanumeric()
                    && l[l.len() - 1].is_ascii_alphanumeric()
                    && l.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            });
        let ipv6 = b.windows(4).any(|w| w == b"IPv6");
        local_ok && domain_ok && !ipv6
    }

    /// Must hold for every string: a fast `true` is a full-rule `true`.
    fn agrees(s: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            accepts(s),
            reference(s),
            "one pass and reference differ on {:?}",
            s
        );
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
        const ALPHABET: &[u8] = b"a1.@-_'I";
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
                assert_eq!(accepts(text), reference(text), "{text:?}");
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
