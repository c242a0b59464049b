//! Client-side replica of egulias/EmailValidator 2.1.25's `RFCValidation`, what Laravel 8's
//! `email` rule runs (`composer.json`: `egulias/email-validator ^2.1.10`).
//!
//! A port of `EmailLexer`, `EmailParser` and `Parser/{Parser, LocalPart, DomainPart}.php` as
//! Debian bullseye packages them (with doctrine/lexer 1.2), checked differentially against that
//! very code by `tests/it/oracle.rs`. Only thrown `InvalidEmail`s reject; the many warnings
//! (label or domain too long, comments, quoted parts, odd literals) never do, which is why 2.x
//! accepts what 3.x refuses: `a@b_c.com` and `a@b+c.com` (`_` and `+` are plain text to its
//! lexer), `😀@x.com` (it only refuses control characters), 64-octet labels and 300-octet
//! domains (only warnings), `a@b:c` (a colon is no error in a domain).
//!
//! Its quirks are kept on purpose: a NUL inside the local part passes, a second `""` re-enters
//! the quoted-string parser, a domain literal runs to a `}` rather than to its `]`, and a
//! backslash inside one always fails. As in `email.rs`, tokens are lexed lazily with one token
//! of lookahead and `find()` compares with the last `"`, `)` or `]`, so time is linear and
//! nothing recurses.

/// True when egulias 2.1.25's `RFCValidation` accepts `s`.
pub fn is_valid_email(s: &str) -> bool {
    // `EmailLexer::getType()` types every `\p{Cc}` other than NUL, TAB, CR and LF `INVALID`, and
    // `EmailParser::parse()` ends with `ExpectingATEXT` whenever one was seen.
    let Some(last) = prescan(s) else {
        return false;
    };
    let lx = Lexer::new(s, last);
    // `hasAtToken()`: the first token must not be `@`.
    if lx.cur == K::At {
        return false;
    }
    let mut p = Parser { lx, opened: 0 };
    p.local_part().is_ok() && p.domain_part().is_ok()
}

/// `EmailLexer` token types (`INVALID` never reaches the parser: see `prescan`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    /// The null token (`type` null): before the first and after the last token.
    Empty,
    At,
    Dot,
    DQuote,
    SQuote,
    Backtick,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    OpenQBracket,
    CloseQBracket,
    Hyphen,
    Colon,
    DoubleColon,
    Semicolon,
    Comma,
    Lt,
    Gt,
    Slash,
    Backslash,
    Sp,
    HTab,
    Cr,
    Lf,
    Crlf,
    Nul,
    IPv6,
    Generic,
}

/// Byte offsets of the last `"`, `)` and `]`: all `EmailLexer::find()` needs.
#[derive(Default)]
struct Last {
    dquote: Option<usize>,
    paren: Option<usize>,
    bracket: Option<usize>,
}

/// The doctrine/lexer cursor as egulias drives it: `previous`, `token`, `lookahead`.
struct Lexer<'a> {
    src: &'a str,
    last: Last,
    prev: K,
    cur: K,
    /// The lookahead's kind and start, `None` when it is null.
    next: Option<(K, usize)>,
    /// Where the token after the lookahead starts.
    after: usize,
}

impl<'a> Lexer<'a> {
    /// The state after `hasAtToken()`'s two `moveNext()` calls.
    fn new(src: &'a str, last: Last) -> Self {
        let mut lx = Lexer {
            src,
            last,
            prev: K::Empty,
            cur: K::Empty,
            next: None,
            after: 0,
        };
        lx.next = lx.lex();
        lx.advance();
        lx
    }

    fn lex(&mut self) -> Option<(K, usize)> {
        let (kind, len) = token(&self.src[self.after..])?;
        let start = self.after;
        self.after += len;
        Some((kind, start))
    }

    /// `EmailLexer::moveNext()`: true while there is a lookahead.
    fn advance(&mut self) -> bool {
        self.prev = self.cur;
        self.cur = self.next.map_or(K::Empty, |(k, _)| k);
        self.next = self.lex();
        self.next.is_some()
    }

    /// `isNextToken(kind)` (never asked about the null type).
    fn next_is(&self, kind: K) -> bool {
        self.next.is_some_and(|(k, _)| k == kind)
    }

    /// `find(kind)`: is there such a token at or after the lookahead?
    fn find(&self, kind: K) -> bool {
        let last = match kind {
            K::DQuote => self.last.dquote,
            K::CloseParen => self.last.paren,
            _ => self.last.bracket,
        };
        matches!((self.next, last), (Some((_, start)), Some(l)) if l >= start)
    }
}

/// The first token of `s` as `EmailLexer`'s split regex cuts it (`/iu`):
/// `[a-zA-Z_]+[46]?` | `[^\x00-\x7F]` | `[0-9]+` | `\r\n` | `::` | `\s+?` | `.`
fn token(s: &str) -> Option<(K, usize)> {
    let bytes = s.as_bytes();
    let kind_len = match *bytes.first()? {
        b'_' => letters(bytes),
        b if b.is_ascii_alphabetic() => letters(bytes),
        b if b.is_ascii_digit() => (
            K::Generic,
            bytes.iter().take_while(|b| b.is_ascii_digit()).count(),
        ),
        b'\r' if bytes.get(1) == Some(&b'\n') => (K::Crlf, 2),
        b':' if bytes.get(1) == Some(&b':') => (K::DoubleColon, 2),
        b @ 0..0x80 => (kind_of(b), 1),
        _ => match s.chars().next()? {
            '\u{17F}' | '\u{212A}' => letters(bytes),
            c => (K::Generic, c.len_utf8()),
        },
    };
    Some(kind_len)
}

/// A run of `[a-zA-Z_]` (with `ſ` and the Kelvin sign, which `/i` folds into it) and an
/// optional `4` or `6`; `GENERIC` unless it is exactly `IPv6`.
fn letters(bytes: &[u8]) -> (K, usize) {
    let mut len = 0;
    loop {
        match bytes[len..] {
            [b, ..] if b.is_ascii_alphabetic() || b == b'_' => len += 1,
            [0xC5, 0xBF, ..] => len += 2,
            [0xE2, 0x84, 0xAA, ..] => len += 3,
            [b'4' | b'6', ..] if &bytes[..=len] == b"IPv6" => return (K::IPv6, 4),
            [b'4' | b'6', ..] => return (K::Generic, len + 1),
            _ => return (K::Generic, len),
        }
    }
}

/// `EmailLexer::$charValue` for one ASCII character; the rest is `GENERIC` (controls were
/// refused by `prescan`).
fn kind_of(b: u8) -> K {
    match b {
        b'@' => K::At,
        b'.' => K::Dot,
        b'"' => K::DQuote,
        b'\'' => K::SQuote,
        b'`' => K::Backtick,
        b'(' => K::OpenParen,
        b')' => K::CloseParen,
        b'[' => K::OpenBracket,
        b']' => K::CloseBracket,
        b'{' => K::OpenQBracket,
        b'}' => K::CloseQBracket,
        b'-' => K::Hyphen,
        b':' => K::Colon,
        b';' => K::Semicolon,
        b',' => K::Comma,
        b'<' => K::Lt,
        b'>' => K::Gt,
        b'/' => K::Slash,
        b'\\' => K::Backslash,
        b' ' => K::Sp,
        b'\t' => K::HTab,
        b'\r' => K::Cr,
        b'\n' => K::Lf,
        0 => K::Nul,
        _ => K::Generic,
    }
}

/// `None` if a token would be `INVALID` (a `\p{Cc}` other than NUL, TAB, LF and CR: ASCII
/// controls, DEL, U+0080–U+009F); else what `find()` looks for.
fn prescan(s: &str) -> Option<Last> {
    let mut last = Last::default();
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => last.dquote = Some(i),
            b')' => last.paren = Some(i),
            b']' => last.bracket = Some(i),
            0 | b'\t' | b'\n' | b'\r' => {}
            0..0x20 | 0x7F => return None,
            // U+0080..U+009F are C2 80..C2 9F in UTF-8.
            0xC2 if matches!(bytes.get(i + 1), Some(0x80..=0x9F)) => return None,
            _ => {}
        }
    }
    Some(last)
}

struct Invalid;
type Res = Result<(), Invalid>;

fn reject(bad: bool) -> Res {
    if bad { Err(Invalid) } else { Ok(()) }
}

struct Parser<'a> {
    lx: Lexer<'a>,
    /// `Parser::$openedParenthesis`, as `parseComments()` leaves it.
    opened: i64,
}

impl Parser<'_> {
    /// `LocalPart::parse()`: stops with `@` current, or at the end of input.
    fn local_part(&mut self) -> Res {
        let (mut parse_dquote, mut closing_quote, mut opened) = (true, false, 0i64);
        while !matches!(self.lx.cur, K::At | K::Empty) {
            reject(self.lx.cur == K::Dot && self.lx.prev == K::Empty)?;
            closing_quote = self.check_dquote(closing_quote)?;
            if closing_quote && parse_dquote {
                parse_dquote = self.double_quote()?;
            }
            if self.lx.cur == K::OpenParen {
                self.comments()?;
                opened += self.opened;
            }
            if self.lx.cur == K::CloseParen {
                reject(opened == 0)?;
                opened -= 1;
            }
            reject(self.lx.cur == K::Dot && self.lx.next_is(K::Dot))?;
            reject(self.lx.cur == K::Dot && self.lx.next_is(K::At))?;
            self.warn_escaping()?;
            let forbidden = matches!(
                self.lx.cur,
                K::Comma
                    | K::CloseBracket
                    | K::OpenBracket
                    | K::Gt
                    | K::Lt
                    | K::Colon
                    | K::Semicolon
            );
            reject(forbidden && !closing_quote)?;
            if self.is_fws() {
                self.fws()?;
            }
            self.lx.advance();
        }
        Ok(())
    }

    /// `Parser::checkDQUOTE()`: returns the new "has closing quote".
    fn check_dquote(&self, has_closing: bool) -> Result<bool, Invalid> {
        if self.lx.cur != K::DQuote || has_closing {
            return Ok(has_closing);
        }
        reject(self.lx.next_is(K::Generic) && self.lx.prev == K::Generic)?;
        reject(!self.lx.find(K::DQuote))?;
        Ok(true)
    }

    /// `LocalPart::parseDoubleQuote()`: true ("parse again") only for an empty `""`.
    fn double_quote(&mut self) -> Result<bool, Invalid> {
        let mut again = true;
        self.lx.advance();
        while !matches!(self.lx.cur, K::DQuote | K::Empty) {
            again = false;
            if self.lx.cur == K::Backslash && self.lx.next_is(K::DQuote) {
                self.lx.advance();
            }
            self.lx.advance();
            let bad = matches!(self.lx.cur, K::Nul | K::HTab | K::Cr | K::Lf);
            reject(bad && !self.escaped())?;
        }
        let prev_backslash = self.lx.prev == K::Backslash;
        if prev_backslash {
            reject(!self.check_dquote(false)?)?;
        }
        reject(!self.lx.next_is(K::At) && !prev_backslash)?;
        Ok(again)
    }

    /// `Parser::parseComments()`: runs to the first `)` after, whatever the nesting.
    fn comments(&mut self) -> Res {
        self.opened = 1;
        reject(!self.lx.find(K::CloseParen))?;
        while !self.lx.next_is(K::CloseParen) {
            if self.lx.next_is(K::OpenParen) {
                self.opened += 1;
            }
            self.warn_escaping()?;
            self.lx.advance();
        }
        self.lx.advance();
        reject(self.lx.next_is(K::Generic))
    }

    /// `Parser::parseFWS()` on the current token.
    fn fws(&self) -> Res {
        let lx = &self.lx;
        let sp_next = lx.next_is(K::Sp) || lx.next_is(K::HTab);
        reject(lx.cur == K::Crlf && !sp_next)?;
        reject(lx.cur == K::Cr)?;
        reject(lx.next_is(K::Generic) && lx.prev != K::At)?;
        reject(matches!(lx.cur, K::Lf | K::Nul))
    }

    fn is_fws(&self) -> bool {
        !self.escaped() && matches!(self.lx.cur, K::Sp | K::HTab | K::Cr | K::Lf | K::Crlf)
    }

    fn escaped(&self) -> bool {
        self.lx.prev == K::Backslash && self.lx.cur != K::Generic
    }

    /// `Parser::warnEscaping()`: a backslash before text is an error.
    fn warn_escaping(&self) -> Res {
        reject(self.lx.cur == K::Backslash && self.lx.next_is(K::Generic))
    }

    /// `DomainPart::parse()`, entered with `@` current.
    fn domain_part(&mut self) -> Res {
        self.lx.advance();
        reject(matches!(self.lx.cur, K::Dot | K::Hyphen | K::Empty))?;
        reject(self.lx.cur == K::Sp && !self.lx.next_is(K::Generic))?;
        if self.lx.cur == K::OpenParen {
            self.domain_comments()?;
        }
        self.domain_labels()?;
        reject(matches!(self.lx.prev, K::Dot | K::Hyphen | K::Cr))
    }

    /// `DomainPart::parseDomainComments()`.
    fn domain_comments(&mut self) -> Res {
        reject(!self.lx.find(K::CloseParen))?;
        while !self.lx.next_is(K::CloseParen) {
            self.warn_escaping()?;
            self.lx.advance();
        }
        self.lx.advance();
        reject(self.lx.next_is(K::Dot))
    }

    /// `DomainPart::doParseDomainPart()` without its label bookkeeping, which only warns.
    fn domain_labels(&mut self) -> Res {
        let mut opened = 0i64;
        loop {
            let prev = self.lx.prev;
            reject(matches!(self.lx.cur, K::Backslash | K::Slash))?;
            if self.lx.cur == K::OpenParen {
                self.comments()?;
                opened += self.opened;
                self.lx.advance();
                if self.lx.prev == K::CloseParen {
                    opened -= 1;
                }
            }
            if self.lx.cur == K::CloseParen {
                reject(opened == 0)?;
                opened -= 1;
            }
            reject(self.lx.cur == K::Dot && self.lx.next_is(K::Dot))?;
            self.domain_exceptions(prev)?;
            if self.lx.cur == K::OpenBracket {
                reject(!self.lx.find(K::CloseBracket))?;
                self.domain_literal()?;
            }
            if self.is_fws() {
                self.fws()?;
            }
            self.lx.advance();
            reject(self.lx.cur == K::Sp)?;
            if self.lx.cur == K::Empty {
                return Ok(());
            }
        }
    }

    /// `DomainPart::checkDomainPartExceptions()`.
    fn domain_exceptions(&self, prev: K) -> Res {
        let cur = self.lx.cur;
        let bad = matches!(
            cur,
            K::DQuote | K::SQuote | K::Backtick | K::Semicolon | K::Gt | K::Lt | K::Comma | K::At
        );
        reject(bad || (cur == K::OpenQBracket && prev != K::At))?;
        reject(cur == K::Hyphen && self.lx.next_is(K::Dot))
    }

    /// `DomainPart::doParseDomainLiteral()`: runs to a `}` or the end of input; its IPv4/IPv6
    /// checks only warn. A backslash needs an `INVALID` token after it, which fails anyway.
    fn domain_literal(&mut self) -> Res {
        loop {
            let lx = &self.lx;
            reject(matches!(lx.cur, K::Nul | K::Backslash))?;
            reject(lx.next_is(K::OpenQBracket) || lx.next_is(K::OpenBracket))?;
            if lx.next_is(K::HTab) || lx.next_is(K::Sp) {
                self.fws()?;
            }
            reject(self.lx.next_is(K::Cr))?;
            if self.lx.cur == K::CloseQBracket || !self.lx.advance() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_email;
    use proptest::prelude::*;

    /// egulias 2.1.25 verdicts (run on PHP 8.2 with bullseye's doctrine/lexer 1.2.1).
    const VALID: &[&str] = &[
        "john@doe.ie",
        "a@b_c.com",
        "a@b+c.com",
        "😀@x.com",
        "a@b:c",
        "fabien+@symfony.com",
        "test@email&",
        "example@ invalid.example.com",
    ];
    const INVALID: &[&str] = &[
        "",
        "@a.b",
        "a@",
        "a@b.",
        "a@-b",
        "a@b@c",
        "a\u{1}@b",
        "a\u{85}@b",
        "a@[1\\2]",
        "a,b@c",
        "a@b,c",
        "a@b/c",
    ];

    #[test]
    fn known_verdicts() {
        let wrong_valid = VALID.iter().filter(|s| !is_valid_email(s));
        let wrong_invalid = INVALID.iter().filter(|s| is_valid_email(s));
        let wrong: Vec<_> = wrong_valid.chain(wrong_invalid).collect();
        assert!(wrong.is_empty(), "wrong verdicts: {wrong:#?}");
    }

    /// Lines exactly as stored: split on LF only, never trimmed.
    fn lines(file: &str) -> Vec<&str> {
        let file = file.strip_suffix('\n').unwrap_or(file);
        file.split('\n').collect()
    }

    #[test]
    fn egulias_2_1_25_lists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/emails/");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}{f}")).expect("fixture");
        let valid = read("egulias-2.1.25-rfc-valid.txt");
        let refused: Vec<_> = lines(&valid)
            .into_iter()
            .filter(|l| !is_valid_email(l))
            .collect();
        assert!(refused.is_empty(), "valid lines refused: {refused:#?}");
        let invalid = read("egulias-2.1.25-rfc-invalid.txt");
        let accepted: Vec<_> = lines(&invalid)
            .into_iter()
            .filter(|l| is_valid_email(l))
            .collect();
        assert!(accepted.is_empty(), "invalid lines accepted: {accepted:#?}");
    }

    /// No recursion and linear time on 1 MiB of hostile input.
    #[test]
    fn hostile_inputs() {
        let mib = |unit: &str| unit.repeat((1 << 20) / unit.len());
        for unit in "( ) \" \"\" [ { } \\ (a@ a@[ @( ä".split(' ') {
            let s = mib(unit);
            for input in [format!("a{s}@b"), format!("a@{s}"), format!("{s}@a"), s] {
                let _ = is_valid_email(&input);
            }
        }
        assert!(is_valid_email(&format!("a@{}", mib("a"))));
    }

    proptest! {
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = is_valid_email(&s);
        }

        #[test]
        fn never_panics_on_email_like(s in "[a-z_ſK46:@.\"'`(){}\\[\\]\\\\ \t\r\n\0,;<>/-]{0,40}") {
            let _ = is_valid_email(&s);
        }
    }
}
