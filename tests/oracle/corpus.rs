//! The differential test's corpus: create-contact bodies exactly as a client sends them.
//!
//! Deterministic (a fixed-seed SplitMix64, no dependency), about 12,000 rows. Most rows come from
//! CSV cells read through import's own column mapping (`Mapping::text` / `Mapping::consent`, as
//! `import::plan` builds its payload), so they are the bodies import really sends; some are raw
//! JSON a client other than this tool could send, which the sandbox must answer like the server. Families: the egulias fixture lists, a random token
//! grammar, mutations of valid addresses, quoted / comment / IP-literal / obsolete forms, IDN
//! labels around 63 octets after UTS #46 mapping, length boundaries in characters and bytes,
//! NUL and white space at cell edges, every boolean spelling, id lists, names at the length
//! limit, and random combinations of all of these in one row.

use serde_json::{Map, Value, json};
use std::sync::OnceLock;

use wolfeo_bulk::mapping::{Consent, Field, Mapping};

pub struct Case {
    pub family: &'static str,
    pub body: Map<String, Value>,
}

/// SplitMix64: tiny, fixed, good enough to spread cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces the random grammar and the mutations draw from: every token class of both egulias
/// lexers, white space and controls, and non-ASCII text that UTS #46 maps or refuses.
const PIECES: &[&str] = &[
    "a", "b", "x", "Z", "mail", "0", "9", "42", "IPv6", "ipv6", "_", ".", ".", "@", "@", "\"", "(",
    ")", "[", "]", "{", "}", "\\", " ", "\t", "\r\n", "\r", "\n", "\0", "-", "+", "!", "#", "$",
    "%", "&", "'", "*", "/", "=", "?", "^", "`", "|", "~", ",", ":", "::", ";", "<", ">", "é", "ß",
    "ſ", "\u{212A}", "😀", "\u{A0}", "\u{3000}", "\u{301}", "ﬁ", "①", "ǅ", "µ", "Ⅻ", "ς",
    "\u{200D}", "ａ", "。", "\u{7F}", "\u{1}", "\u{85}", "¿", "¡", "ä", "д", "中", "€", "\u{FEFF}",
    "\u{2028}", "\u{B}", "\u{C}", "א",
];

/// Addresses both versions accept, the seeds of mutations and structured forms.
const VALID: &[&str] = &[
    "john@doe.ie",
    "a.b+c@sub.example.co.uk",
    "o'brien@example.com",
    "user@[192.168.0.1]",
    "\"quoted local\"@example.com",
    "müller@möller.de",
    "инфо@письмо.рф",
    "x@example",
    "first.last@iana.org",
    "a(comment)b@c.org",
];

const EDGES: &[&str] = &[
    "", " ", "\t", "\n", "\r", "\0", "\u{B}", "\u{C}", "\u{A0}", "\u{3000}", "\u{2028}",
    "\u{FEFF}", "\u{85}", " \0 ", "\r\n", "\0\0",
];

/// Characters whose UTS #46 mapping changes a label's length (ligatures, compatibility forms,
/// case, deviations) or that are plain non-ASCII letters.
const IDN: &[&str] = &[
    "ﬁ", "①", "ſ", "ǅ", "µ", "Ⅻ", "ß", "ς", "ä", "ü", "e\u{301}", "ａ", "한", "中", "Ⅷ", "㎒",
    "\u{1E9E}", "Σ", "д", "ﬀ", "\u{2474}", "ǲ", "\u{301}", "א", "\u{FE0F}",
];

const BOOLEANS: &[&str] = &[
    "true", "false", "TRUE", "False", "yes", "no", "YES", "No", "y", "n", "Y", "N", "1", "0",
    " 1 ", "1\0", "\u{0}0", "01", "1.0", "0.0", "2", "-1", "on", "off", "oui", "non", "t", "f", "",
    "\u{A0}1", "１", "true ", " false\t", "null", "[]",
];

const ID_LISTS: &[&str] = &[
    "1",
    "1,2,3",
    " 1 , 2 ",
    "1,,2",
    "1,",
    ",1",
    "a",
    "1;2",
    "0",
    "-3",
    "1.5",
    "+4",
    "1 2",
    "99999999999999999999",
    "\u{A0}1",
    "1\0",
];

pub fn corpus() -> Vec<Case> {
    let mut rng = Rng::new(0x05EE_D0F0_AC1E);
    let mut out = Vec::new();
    let email = |out: &mut Vec<Case>, family, s: String| {
        out.push(csv_row(family, &[("email", s, false)]));
    };
    for list in fixtures() {
        for line in list {
            email(&mut out, "fixture", line);
        }
    }
    for _ in 0..2500 {
        let s = grammar(&mut rng);
        email(&mut out, "grammar", s);
    }
    for _ in 0..2500 {
        let s = mutate(&mut rng);
        email(&mut out, "mutation", s);
    }
    for s in structured(&mut rng) {
        email(&mut out, "structured", s);
    }
    for s in idn() {
        email(&mut out, "idn", s);
    }
    for s in lengths() {
        email(&mut out, "length", s);
    }
    for (pre, post) in EDGES.iter().flat_map(|a| EDGES.iter().map(move |b| (a, b))) {
        for core in ["john@doe.ie", "a@b_c.com", "bad", ""] {
            let s = format!("{pre}{core}{post}");
            out.push(json_row("edge", json!({"email": s})));
            email(&mut out, "edge", s);
        }
    }
    fields(&mut out);
    combinations(&mut rng, &mut out);
    out
}

/// The corpus's CSV header: one column per API field, each mapped to itself.
const HEADER: [(&str, Field); 7] = [
    ("email", Field::Email),
    ("first_name", Field::FirstName),
    ("last_name", Field::LastName),
    ("email_marketing", Field::EmailMarketing),
    ("gdpr", Field::Gdpr),
    ("tag_ids", Field::TagIds),
    ("sequence_ids", Field::SequenceIds),
];

fn mapping() -> &'static Mapping {
    static MAPPING: OnceLock<Mapping> = OnceLock::new();
    MAPPING.get_or_init(|| {
        let headers: Vec<String> = HEADER.iter().map(|(h, _)| h.to_string()).collect();
        Mapping::resolve(&headers, &[]).expect("the corpus header maps")
    })
}

/// A row built from CSV cells the way `import::plan` builds its payload: text fields through
/// `Mapping::text`, consent fields through `Mapping::consent`.
fn csv_row(family: &'static str, cells: &[(&str, String, bool)]) -> Case {
    let mut row = vec![String::new(); HEADER.len()];
    for (key, cell, _) in cells {
        let i = HEADER
            .iter()
            .position(|(h, _)| h == key)
            .expect("a corpus column");
        row[i] = cell.clone();
    }
    let mut body = Map::new();
    for (key, field) in HEADER {
        let value = if field.is_consent() {
            match mapping().consent(field, &row) {
                Consent::Absent => None,
                Consent::Send(b, _) => Some(Value::Bool(b)),
                Consent::AsWritten(v) => Some(Value::String(v.to_string())),
            }
        } else {
            let text = mapping().text(field, &row);
            text.map(|t| Value::String(t.value.to_string()))
        };
        if let Some(v) = value {
            body.insert(key.to_string(), v);
        }
    }
    Case { family, body }
}

fn json_row(family: &'static str, v: Value) -> Case {
    let body = v.as_object().expect("an object").clone();
    Case { family, body }
}

fn fixtures() -> Vec<Vec<String>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/emails/");
    let files = [
        "rfc-valid.txt",
        "rfc-invalid.txt",
        "egulias-2.1.25-rfc-valid.txt",
        "egulias-2.1.25-rfc-invalid.txt",
    ];
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(format!("{dir}{f}")).expect("fixture");
            let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
            text.split('\n').map(str::to_string).collect()
        })
        .collect()
}

fn grammar(rng: &mut Rng) -> String {
    let piece = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| *rng.pick(PIECES))
            .collect::<Vec<_>>()
            .concat()
    };
    if rng.below(2) == 0 {
        let n = 1 + rng.below(14);
        piece(rng, n)
    } else {
        let (l, d) = (1 + rng.below(6), 1 + rng.below(8));
        format!("{}@{}", piece(rng, l), piece(rng, d))
    }
}

fn mutate(rng: &mut Rng) -> String {
    let mut chars: Vec<String> = rng.pick(VALID).chars().map(String::from).collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => chars.insert(at, rng.pick(PIECES).to_string()),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = rng.pick(PIECES).to_string(),
            _ => {
                let from = rng.below(chars.len());
                let seg: Vec<String> = chars[from..].iter().take(4).cloned().collect();
                chars.splice(at..at, seg);
            }
        }
    }
    chars.concat()
}

/// Quoted strings, comments, domain literals and obsolete forms, each slot filled at random.
fn structured(rng: &mut Rng) -> Vec<String> {
    const INSIDE: &[&str] = &[
        "", "a", " ", "\\\"", "\\\\", "\t", "\r\n ", "@", ".", "a b", "\0", "\\", "(", ")", "é",
    ];
    const LITERALS: &[&str] = &[
        "1.2.3.4",
        "300.1.1.1",
        "1.2.3",
        "IPv6:::1",
        "IPv6:1::1::1",
        "IPv6:z001::1",
        "IPv6:1:2:3:4:5:6:7:8",
        "IPv6:1:2:3:4:5:6:7:8:9",
        "IPv6::1",
        "IPv6:1:2:3:4:5:6:1.2.3.4",
        "\n",
        "a b",
        "\\a",
        "[",
        "",
        "}",
    ];
    let mut out = Vec::new();
    for _ in 0..500 {
        let a = *rng.pick(INSIDE);
        let b = *rng.pick(INSIDE);
        let d = rng
            .pick(VALID)
            .split('@')
            .next_back()
            .unwrap_or("x.org")
            .to_string();
        out.push(match rng.below(8) {
            0 => format!("\"{a}{b}\"@{d}"),
            1 => format!("a\"{a}\"b@{d}"),
            2 => format!("a({a}{b})@{d}"),
            3 => format!("a@({a}){d}"),
            4 => format!("a@{d}({a}{b})"),
            5 => format!("a@[{}]{a}", rng.pick(LITERALS)),
            6 => format!("a.\"{a}\".b@{d}"),
            _ => format!("a{a}@{b}{d}"),
        });
    }
    for lit in LITERALS {
        out.push(format!("a@[{lit}]"));
    }
    for fold in [" \r\n ", "\r\n \r\n ", "\r\n", " \r\n", "\r\n\t"] {
        out.push(format!("a{fold}@b.c"));
        out.push(format!("a@{fold}b.c"));
        out.push(format!("({fold})a@b.c"));
    }
    out
}

/// Labels of `k` mapped characters padded with ASCII to 50..=70 characters, first and second
/// label, with and without a leading combining mark.
fn idn() -> Vec<String> {
    let mut out = Vec::new();
    for c in IDN {
        for n in 50..=70 {
            for k in [1, 5, n / 2] {
                let label = format!("{}{}", c.repeat(k), "a".repeat(n.saturating_sub(k)));
                out.push(format!("a@{label}.com"));
                if k == 5 {
                    out.push(format!("a@x.{label}"));
                }
            }
        }
    }
    out
}

/// Local parts, labels, domains and whole addresses at their limits, in ASCII and multi-byte.
fn lengths() -> Vec<String> {
    let mut out = Vec::new();
    for unit in ["a", "é", "😀"] {
        for n in [63, 64, 65] {
            out.push(format!("{}@x.org", unit.repeat(n)));
            out.push(format!("a@{}.org", unit.repeat(n)));
            out.push(format!("a@b.{}", unit.repeat(n)));
        }
    }
    let label = "x".repeat(63);
    for total in 250..=258 {
        let domain = format!("{label}.{label}.{label}.{}", "y".repeat(total - 3 * 64));
        out.push(format!("a@{domain}"));
    }
    for total in [253, 254, 255, 256, 257] {
        for unit in ["a", "é"] {
            let local = unit.repeat(64.min(total - 10));
            let rest = total - local.chars().count() - 1;
            let mut domain = String::new();
            while domain.len() < rest {
                let take = (rest - domain.len()).min(40);
                if !domain.is_empty() {
                    domain.push('.');
                }
                let take = take.min(rest - domain.len()).max(1);
                domain.push_str(&"d".repeat(take));
            }
            out.push(format!("{local}@{domain}"));
        }
    }
    out
}

/// Names, booleans and lists one at a time, with a valid email, as cells and as raw JSON.
fn fields(out: &mut Vec<Case>) {
    let ok = || "john@doe.ie".to_string();
    for unit in ["x", "é", "😀", "e\u{301}", "\u{A0}"] {
        for n in [0, 1, 254, 255, 256] {
            for edge in ["", " ", "\0", "\u{A0}"] {
                let name = format!("{edge}{}{edge}", unit.repeat(n));
                let cells = [("email", ok(), false), ("first_name", name.clone(), false)];
                out.push(csv_row("name", &cells));
                let cells = [("email", ok(), false), ("last_name", name, false)];
                out.push(csv_row("name", &cells));
            }
        }
    }
    for raw in [
        json!(12),
        json!(true),
        json!([]),
        json!(["x"]),
        json!({}),
        json!(null),
        json!(1.5),
    ] {
        out.push(json_row(
            "name",
            json!({"email": "john@doe.ie", "first_name": raw}),
        ));
        out.push(json_row("email-json", json!({"email": raw})));
    }
    out.push(json_row(
        "name",
        json!({"email": "a@b.c", "first_name": vec!["x"; 256]}),
    ));
    out.push(json_row("email-json", json!({"email": vec!["x"; 256]})));
    for b in BOOLEANS {
        for key in ["gdpr", "email_marketing"] {
            out.push(csv_row(
                "boolean",
                &[("email", ok(), false), (key, b.to_string(), true)],
            ));
            out.push(json_row("boolean", json!({"email": "john@doe.ie", key: b})));
        }
    }
    for raw in [
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(2),
        json!(1.0),
        json!([1]),
        json!(null),
        json!(""),
    ] {
        out.push(json_row(
            "boolean",
            json!({"email": "john@doe.ie", "gdpr": raw}),
        ));
    }
    for list in ID_LISTS {
        for key in ["tag_ids", "sequence_ids"] {
            out.push(csv_row(
                "list",
                &[("email", ok(), false), (key, list.to_string(), false)],
            ));
        }
    }
}

/// Every field at once, each drawn from its family: several messages in one answer, and
/// disputed emails next to other failures.
fn combinations(rng: &mut Rng, out: &mut Vec<Case>) {
    let emails = [
        "john@doe.ie",
        "a@b_c.com",
        "😀@x.com",
        "bad",
        "",
        "a@b.",
        " a@b.c\0",
        "a@b+c.com",
        "a@x.toolonglabeltoolonglabeltoolonglabeltoolonglabeltoolonglabelx",
    ];
    for _ in 0..1500 {
        let email = if rng.below(3) == 0 {
            grammar(rng)
        } else {
            rng.pick(&emails).to_string()
        };
        let name = |rng: &mut Rng| {
            let n = *rng.pick(&[0usize, 3, 255, 256, 300]);
            format!(
                "{}{}",
                rng.pick(EDGES),
                rng.pick(&["n", "é", "😀"]).repeat(n)
            )
        };
        let (first, last) = (name(rng), name(rng));
        let cells = [
            ("email", email, false),
            ("first_name", first, false),
            ("last_name", last, false),
            ("gdpr", rng.pick(BOOLEANS).to_string(), true),
            ("email_marketing", rng.pick(BOOLEANS).to_string(), true),
            ("tag_ids", rng.pick(ID_LISTS).to_string(), false),
        ];
        out.push(csv_row("combination", &cells));
    }
}
