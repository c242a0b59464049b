//! Client-side replica of Laravel's default `email` validation rule.
//!
//! Laravel's `email` rule (no options) runs egulias/EmailValidator's `RFCValidation`: RFC 5321/5322
//! syntax, no DNS. A row it rejects comes back from the API as `The email must be a valid email
//! address.`, so every CSV row is pre-checked here with the same verdict.
//!
//! This is a port of egulias 3.x/4.x (`EmailLexer` and `Parser/{LocalPart, DoubleQuote, Comment,
//! FoldingWhiteSpace, DomainPart, DomainLiteral}.php`), checked against egulias' own test data and
//! differentially (fuzzed, and every code point) against egulias 3.2.5 on PHP 8.2 / PCRE2 10.42 /
//! ICU 72. Only egulias errors reject; its warnings (local part over 64 octets, address over 254,
//! odd IPv6 literals, comments, quoted strings, no TLD) don't. Its quirks are kept on purpose:
//! `a(b)c@d`, `a::b@c` and `a@[1.2.3.4]xyz` pass; `a@IPv6.com` fails, and so does a 63-octet ASCII
//! label after a dot (egulias counts the dot).
//!
//! egulias tokenizes the whole input and looks ahead with `find()`. Here tokens are lexed lazily
//! with one token of lookahead, and `find()` checks the last `"`, `)` or `]` seen by a first pass,
//! so nothing is allocated, nothing recurses and the time is linear in the input.
//!
//! Known deviations:
//! - "Invalid character" (`\p{S}` or `\p{C}`) follows Unicode 14, as in PCRE2 10.39–10.42 (PHP
//!   8.1–8.3). Newer PCRE2 (PHP 8.4) treats characters assigned since then as valid letters etc.
//! - Non-ASCII labels are measured as ICU's `idn_to_ascii()` does (`idn.rs`), with the Unicode
//!   version of the `idna` crate's data rather than ICU 72's.
//! - Input is `&str`, so egulias' rejection of invalid UTF-8 cannot come up.

/// True when Laravel's default `email` rule (egulias/EmailValidator `RFCValidation`, no DNS) accepts `s`.
pub fn is_valid_email(s: &str) -> bool {
    // `EmailLexer` flags a symbol or control character anywhere, and `Parser::parse()` rejects.
    let Some(last) = prescan(s) else {
        return false;
    };
    let mut lx = Lexer::new(s, last);
    // `EmailParser::preLeftParsing()`: its `hasAtToken()` really means "doesn't start with @".
    if lx.cur.kind == K::At {
        return false;
    }
    local_part(&mut lx).is_ok() && domain_part(&mut lx).is_ok()
}

/// Token kinds, merged where egulias treats them alike. `Other` covers the remaining atext
/// specials, `/`, `::`, `IPv6`, `¿` and `¡`: fine in a local part, never in a domain, never `GENERIC`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum K {
    Empty,
    At,
    Dot,
    DQuote,
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
    Backslash,
    Hyphen,
    /// `,` `:` `;` `<` `>`, which `LocalPart::INVALID_TOKENS` refuses.
    Special,
    Sp,
    HTab,
    Cr,
    Lf,
    Crlf,
    Nul,
    Generic,
    Other,
}

#[derive(Clone, Copy)]
struct Tok {
    kind: K,
    start: usize,
    end: usize,
}

/// egulias' null token (`Empty`): current before the first and after the last token.
fn null_at(pos: usize) -> Tok {
    let (kind, start, end) = (K::Empty, pos, pos);
    Tok { kind, start, end }
}

/// Byte offsets of the last `"`, `)` and `]`, which is all `EmailLexer::find()` needs.
#[derive(Default)]
struct Last {
    dquote: Option<usize>,
    paren: Option<usize>,
    bracket: Option<usize>,
}

/// The doctrine/lexer cursor: `previous`, `current` and `lookahead` (`None` = null).
struct Lexer<'a> {
    src: &'a str,
    last: Last,
    prev: Tok,
    cur: Tok,
    next: Option<Tok>,
}

impl<'a> Lexer<'a> {
    /// The state after `hasAtToken()`'s two `moveNext()` calls: current is the first token.
    fn new(src: &'a str, last: Last) -> Self {
        let (prev, cur, next) = (null_at(0), null_at(0), lex(src, 0));
        let mut lx = Lexer {
            src,
            last,
            prev,
            cur,
            next,
        };
        lx.advance();
        lx
    }

    /// `EmailLexer::moveNext()`: true while there is a lookahead.
    fn advance(&mut self) -> bool {
        self.prev = self.cur;
        self.cur = self.next.unwrap_or(null_at(self.src.len()));
        self.next = lex(self.src, self.cur.end);
        self.next.is_some()
    }

    /// Kind of the lookahead; `Empty` when there is none (no check compares it with `Empty`).
    fn peek(&self) -> K {
        self.next.map_or(K::Empty, |t| t.kind)
    }

    /// `EmailLexer::find()`: is there such a token at or after the lookahead?
    fn find(&self, kind: K) -> bool {
        let last = match kind {
            K::DQuote => self.last.dquote,
            K::CloseParen => self.last.paren,
            _ => self.last.bracket,
        };
        matches!((self.next, last), (Some(n), Some(l)) if l >= n.start)
    }

    /// `PartParser::escaped()`.
    fn escaped(&self) -> bool {
        self.prev.kind == K::Backslash && self.cur.kind != K::Generic
    }
}

/// The token at `pos`, as `EmailLexer`'s split regex cuts them:
/// `[a-zA-Z]+[46]?` | `[^\x00-\x7F]` | `[0-9]+` | `\r\n` | `::` | `\s+?` | `.`
fn lex(src: &str, pos: usize) -> Option<Tok> {
    let bytes = &src.as_bytes()[pos..];
    let (kind, len) = match *bytes.first()? {
        b if b.is_ascii_alphabetic() => letters(bytes),
        b if b.is_ascii_digit() => (
            K::Generic,
            bytes.iter().take_while(|b| b.is_ascii_digit()).count(),
        ),
        b'\r' if bytes.get(1) == Some(&b'\n') => (K::Crlf, 2),
        b':' if bytes.get(1) == Some(&b':') => (K::Other, 2),
        b @ 0..0x80 => (kind_of(char::from(b)), 1),
        _ => match src[pos..].chars().next()? {
            c if is_letter(c) => letters(bytes),
            c => (kind_of(c), c.len_utf8()),
        },
    };
    let (start, end) = (pos, pos + len);
    Some(Tok { kind, start, end })
}

/// `ſ` and `K` (Kelvin sign) case-fold into `[a-zA-Z]` under PCRE's `/iu`, so they join letter runs.
fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '\u{17F}' || c == '\u{212A}'
}

/// A run of letters (see `is_letter`) and an optional `4` or `6`; only `IPv6` has its own type.
fn letters(bytes: &[u8]) -> (K, usize) {
    let mut len = 0;
    loop {
        match bytes[len..] {
            [b, ..] if b.is_ascii_alphabetic() => len += 1,
            [0xC5, 0xBF, ..] => len += 2,
            [0xE2, 0x84, 0xAA, ..] => len += 3,
            [b'4' | b'6', ..] if &bytes[..=len] == b"IPv6" => return (K::Other, 4),
            [b'4' | b'6', ..] => return (K::Generic, len + 1),
            _ => return (K::Generic, len),
        }
    }
}

/// `EmailLexer::getType()` for a one-character token that `prescan` let through (so not
/// `INVALID`): the remaining ASCII punctuation, `¿` and `¡` have types of their own.
fn kind_of(c: char) -> K {
    match c {
        '@' => K::At,
        '.' => K::Dot,
        '"' => K::DQuote,
        '(' => K::OpenParen,
        ')' => K::CloseParen,
        '[' => K::OpenBracket,
        ']' => K::CloseBracket,
        '\\' => K::Backslash,
        '-' => K::Hyphen,
        ',' | ':' | ';' | '<' | '>' => K::Special,
        ' ' => K::Sp,
        '\t' => K::HTab,
        '\r' => K::Cr,
        '\n' => K::Lf,
        '\0' => K::Nul,
        '¿' | '¡' => K::Other,
        _ if c.is_ascii_punctuation() => K::Other,
        _ => K::Generic,
    }
}

/// First pass: `None` if a token would be `EmailLexer::INVALID`, else what `find()` looks for.
fn prescan(s: &str) -> Option<Last> {
    let mut last = Last::default();
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b.is_ascii_alphanumeric() {
            continue;
        }
        match b {
            b'"' => last.dquote = Some(i),
            b')' => last.paren = Some(i),
            b']' => last.bracket = Some(i),
            // NUL, TAB, LF and CR have token types of their own; other controls are `\p{Cc}`.
            b' '..=b'~' | 0 | b'\t' | b'\n' | b'\r' => {}
            0..=0x7F => return None,
            0x80..=0xBF => {} // continuation byte
            _ => {
                let c = s[i..].chars().next()?;
                if symbol_or_other(c) {
                    return None;
                }
            }
        }
    }
    Some(last)
}

/// `EmailLexer::isInvalidChar()` for a non-ASCII character: in `\p{S}` or `\p{C}`. (Printable
/// ASCII is in `$charValue` or `GENERIC`.)
fn symbol_or_other(c: char) -> bool {
    let cp = u32::from(c);
    let i = SYMBOL_OR_OTHER.partition_point(|&(_, hi)| hi < cp);
    SYMBOL_OR_OTHER.get(i).is_some_and(|&(lo, _)| lo <= cp)
}

struct Invalid;
type Res = Result<(), Invalid>;

/// One of egulias' error conditions, as an early return.
fn reject(bad: bool) -> Res {
    if bad { Err(Invalid) } else { Ok(()) }
}

/// `LocalPart::parse()`: stops with `@` current (or at the end of input).
fn local_part(lx: &mut Lexer) -> Res {
    while !matches!(lx.cur.kind, K::At | K::Empty) {
        reject(lx.cur.kind == K::Dot && lx.prev.kind == K::Empty)?;
        if lx.cur.kind == K::DQuote {
            double_quote(lx)?;
        }
        if matches!(lx.cur.kind, K::OpenParen | K::CloseParen) {
            comment(lx, false)?;
        }
        reject(lx.cur.kind == K::Dot && matches!(lx.peek(), K::Dot | K::At))?;
        reject(lx.cur.kind == K::Backslash && lx.peek() == K::Generic)?;
        let special = matches!(lx.cur.kind, K::Special | K::OpenBracket | K::CloseBracket);
        reject(special)?;
        folding_white_space(lx)?;
        lx.advance();
    }
    Ok(())
}

/// `DoubleQuote::checkDQUOTE()`: a quoted string must be a unit, and closed.
fn check_dquote(lx: &Lexer) -> Res {
    reject(lx.peek() == K::Generic && lx.prev.kind == K::Generic)?;
    reject(!lx.find(K::DQuote))
}

/// `DoubleQuote::parse()`, entered on the opening quote; stops on the closing one.
fn double_quote(lx: &mut Lexer) -> Res {
    check_dquote(lx)?;
    lx.advance();
    while !matches!(lx.cur.kind, K::DQuote | K::Empty) {
        if lx.cur.kind == K::Backslash && lx.peek() == K::DQuote {
            lx.advance();
        }
        lx.advance();
        let bad = matches!(lx.cur.kind, K::Nul | K::HTab | K::Cr | K::Lf);
        reject(bad && !lx.escaped())?;
    }
    let prev_backslash = lx.prev.kind == K::Backslash;
    if prev_backslash {
        check_dquote(lx)?;
    }
    reject(lx.peek() != K::At && !prev_backslash)
}

/// `Comment::parse()` with `LocalComment` (runs to just before `@`) or `DomainComment` (runs to
/// just before a `.` at depth 0). Nesting is a counter, as in egulias.
fn comment(lx: &mut Lexer, domain: bool) -> Res {
    let mut depth: i64 = 0;
    if lx.cur.kind == K::OpenParen {
        depth += 1;
        reject(!lx.find(K::CloseParen))?;
    }
    reject(lx.cur.kind == K::CloseParen)?;
    let stop = if domain { K::Dot } else { K::At };
    let mut more = true;
    while more && !(lx.peek() == stop && (depth == 0 || !domain)) {
        match lx.peek() {
            K::OpenParen => depth += 1,
            K::CloseParen => depth -= 1,
            _ => {}
        }
        more = lx.advance();
    }
    reject(depth != 0 || lx.peek() != stop)
}

/// `FoldingWhiteSpace::parse()` on the current token.
fn folding_white_space(lx: &Lexer) -> Res {
    let kind = lx.cur.kind;
    if lx.escaped() || !matches!(kind, K::Sp | K::HTab | K::Cr | K::Lf | K::Crlf) {
        return Ok(());
    }
    reject(kind == K::Crlf && !matches!(lx.peek(), K::Sp | K::HTab))?;
    reject(kind == K::Cr || kind == K::Lf)?;
    reject(lx.peek() == K::Generic && lx.prev.kind != K::At)
}

/// `DomainPart::parse()`, entered with `@` current.
fn domain_part(lx: &mut Lexer) -> Res {
    lx.advance();
    let start = lx.cur.start;
    reject(matches!(lx.cur.kind, K::Dot | K::Hyphen | K::Empty | K::At))?;
    reject(lx.cur.kind == K::Sp && lx.peek() != K::Generic)?;
    domain_labels(lx)?;
    // checkEndOfDomain()
    reject(matches!(lx.prev.kind, K::Dot | K::Hyphen) || lx.cur.kind == K::Sp)?;
    // The length egulias records: from the first domain token to the current one.
    reject(lx.cur.end - start > 253)
}

/// `DomainPart::doParseDomainPart()`. Its `parseFWS()` is left out: any white space it lets
/// through, `validateTokens()` refuses right after.
fn domain_labels(lx: &mut Lexer) -> Res {
    let mut has_comments = false;
    let mut label = Label::default();
    label.clear(lx.cur.start);
    loop {
        reject(lx.cur.kind == K::Backslash)?;
        if matches!(lx.cur.kind, K::OpenParen | K::CloseParen) {
            has_comments = true;
            comment(lx, true)?;
        }
        reject(lx.cur.kind == K::Dot && lx.peek() == K::Dot)?;
        if lx.cur.kind == K::OpenBracket {
            return domain_literal(lx);
        }
        // checkLabelLength(): a new label starts with its dot.
        if lx.cur.kind == K::Dot {
            reject(label.too_long(lx.src))?;
            label.clear(lx.cur.start);
        }
        label.push(lx.src, lx.cur.start, lx.cur.end);
        reject(lx.cur.kind == K::Hyphen && lx.peek() == K::Dot)?;
        let paren = matches!(lx.cur.kind, K::OpenParen | K::CloseParen);
        let atext = matches!(lx.cur.kind, K::Generic | K::Hyphen | K::Dot);
        reject(!(atext || (paren && has_comments)))?;
        lx.advance();
        if lx.cur.kind == K::Empty {
            return reject(label.too_long(lx.src));
        }
    }
}

/// `DomainLiteral::parse()`. Its IPv4/IPv6 checks only warn, which leaves these errors; like
/// egulias, the last token and anything after `]` go unchecked.
fn domain_literal(lx: &mut Lexer) -> Res {
    reject(!lx.find(K::CloseBracket))?;
    loop {
        reject(matches!(lx.cur.kind, K::Nul | K::Backslash))?;
        reject(matches!(lx.peek(), K::OpenBracket | K::Cr))?;
        if lx.cur.kind == K::CloseBracket || !lx.advance() {
            return Ok(());
        }
    }
}

/// What `checkLabelLength()` sees: the text of the tokens its loop visited since the last dot,
/// that dot included (a comment's tokens are skipped by the comment parser, so not in it). An
/// ASCII label is too long over 63 octets; otherwise `idn_to_ascii()` decides (see `idn.rs`).
#[derive(Default)]
struct Label {
    octets: usize,
    non_ascii: bool,
    /// Runs of the label cut off by a comment (rare, so usually empty: no allocation).
    earlier: String,
    /// The current contiguous run of the label's tokens in the input.
    start: usize,
    end: usize,
}

impl Label {
    fn clear(&mut self, at: usize) {
        (self.octets, self.non_ascii, self.start, self.end) = (0, false, at, at);
        self.earlier.clear();
    }

    fn push(&mut self, src: &str, start: usize, end: usize) {
        if start != self.end {
            self.earlier.push_str(&src[self.start..self.end]);
            self.start = start;
        }
        self.end = end;
        self.octets += end - start;
        self.non_ascii |= !src[start..end].is_ascii();
    }

    fn too_long(&self, src: &str) -> bool {
        if !self.non_ascii {
            return self.octets > 63;
        }
        let run = &src[self.start..self.end];
        if self.earlier.is_empty() {
            super::idn::label_too_long(run)
        } else {
            super::idn::label_too_long(&format!("{}{run}", self.earlier))
        }
    }
}

/// Non-ASCII code points in `\p{S}` or `\p{C}` (Unicode 14.0; surrogates folded in), as sorted
/// inclusive ranges, unpacked at compile time from `PACKED`.
const SYMBOL_OR_OTHER: [(u32, u32); 765] = unpack(PACKED);

/// Per range, from U+0080: the gap since the previous range, then its length minus one. Numbers
/// are hex with the last digit in `a`..`p` and any earlier ones in `A`..`P`. Generated from
/// Python 3.11 `unicodedata` (Unicode 14.0): categories starting with `S` or `C`.
const PACKED: &[u8] = b"\
aBpcebbcfcadaBoaBpaBMkdmnfgbabBaHfacbgffabaBeaFdaIlaKnaCgbDcfDhhBldgBdcacbmaMabkaBdbpbDlbGfnDgae\
bbbCobpaBmbbaleBiagiEkaKbaibcbBgahabcebjbcbehbdcafbmbgbdbdagdcbBgahacacacbbafdcbdcbgeabgBbjdajad\
aBgahacafbkadadbboeblhhadaibcbBgahacafbjbcbdgddcafbkahjcagcdaeccabaccccdcmdfcdaebbfbnnmnadaBhaBa\
bjadaegcadbbbebkgianadaBhakafbjadaegcfcaebkacmnadaDdadafeBabBdagadaBccBiajabbhcbdgabaifkbdlDkeBm\
CecabafaBiabaBhbfabagbkbeBpbcpabccfBeababapaCedChaCeibifdcCeJobCgabebbBHjaebhabaebCjaebCbaebhaba\
ebpaDjaebEdbCacBapFgbgbCGnaCpcFjgBgiBiiBelnadaclFlacbkfkfoalfFjgCleEgjBpamdmhCkbfkCmdBkflCeBmbEb\
aBnblfkfobBpDaEncBbjjicaHehDmcpcDmgClblhCleCBgbgbCgbgbiabababaBpbDfahabcdahcebgdnedahcleBkeBfana\
npcbgcnccanDcCbBabdbbkabcffbababaealbeefdbaDkBHneBmcBDeDmEnBgCGhCmDacBokBJcBgDoeBpcCAbOffjeCnabe\
bbDigcnBiihahahahahahahahaHabmBKbeanbmaBfbgcFgbcbGdeClaFocejCaCpBaBpkBniapBpkCgpBDpBJMaDpFGInEcB\
FmBdLiBojbGhbEaecabafBhDgdbcgjDihEghmfHekBocEoaldCbaDhiobkbBlcEjBhBmjgbgbgihahaClaofHobkfCLKelBh\
dDbCBAdBGobGkCfhlfemanafabacacaGmCaBGnpEabDgChmdBkfDdaoabdbacdfaIhddagaBacBpabaBlabaGacgbgbgbdCc\
maBkaBdacapboCbHleddCnlDjBacHabIbBncDboBmdCeiBoeCleBoaCfdoCjJobkfCedCedCihDekmapahacalapahacEcBD\
hiBgjiBhgaCkajEegbbaCmaccbbBhaCabCghjCpBdaceCbcBlebDpDidBebDcaceiadaBnbddkgjgEaBpiaBodmiDgcBnbBl\
eBkgelhEpEjDgDdmDdgCohkBCfBpaCkadbcEnCihCkBfBkCfBmBdBhiEodCeiDoafmBjgkfDfaBchChiGaaBekBcaCmEahab\
aeapalfDlekfeaibcbBgahacafakbcbdbbfbehbhcfIkFmafBnEihkKfDgbCgCbEfkkfnBcDkfkDfBlbpdpahLiDmGdFdlib\
bbiacaBoacbmikEfibCoblBkEihFdmEjBAgjaCnaojBncCabBgaoEihacaCmcbacajhkfgacaCfacaggkBDfBjLgboBfCjDJ\
lGfGpafkMeKElGdmECpPNaCEhCBLiCDjgBpakdFbakfBobgjDmdfkkahaBfeBdCKpFlGeEldDjgBbDpfkcnBHPihENgCjjCC\
OgeahacaBCdCmdBaehBImJAdGlencjgkcdBCFpCobBhCBnfcghibhBneJddJkBeGlBjIgFfaEhacbbbcbeamabahaEbaebia\
haBmaeafabchaBFebBjaBjaBpaBjaBpaBjaBpaBjaBpaBjaibDcBPpDhdDchbnbbfofapEEpBpOahaBbbhacafNeCncobkdb\
BEaBpBaDkEOfhaeacapaMfbBaCiEmdkdcDBaDladaeElCnapMbeaBlacabbbakaeababfbdbababadacabbbababababacab\
beahaeaeabakaBbedafaBbCEdnKOckEAfKGOaBpBADjgNobBGIcnBNDbMBoCBoFObBDElKONLePaCPOAp\
";

const fn unpack(packed: &[u8]) -> [(u32, u32); 765] {
    let mut out = [(0, 0); 765];
    let (mut i, mut k, mut from) = (0, 0, 0x80);
    while k < 2 * out.len() {
        let mut v = 0;
        while packed[i].is_ascii_uppercase() {
            v = v * 16 + (packed[i] - b'A') as u32;
            i += 1;
        }
        v = v * 16 + (packed[i] - b'a') as u32;
        i += 1;
        if k % 2 == 0 {
            from += v;
        } else {
            out[k / 2] = (from, from + v);
            from += v + 1;
        }
        k += 1;
    }
    assert!(
        i == packed.len(),
        "PACKED holds a different number of ranges"
    );
    out
}

#[cfg(test)]
mod tests;
