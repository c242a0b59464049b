//! The two passes of [`super::Mapping::resolve`]: the `--map` pairs first
//! ([`apply_overrides`]), then the alias table over the columns they left
//! ([`apply_aliases`]), and the parsing of what a pair names. Invariants: a column is named
//! for one thing only, a field set directly by a pair takes no alias column (opt-out columns
//! aside: they can only lower consent), two primary columns for one field are an error.

use super::aliases::{Role, field_named, is_own_column, lookup, normalize};
use super::{CustomRef, FIELDS, Field, MappingError, Sense, Source, esc, headers_seen};

/// What a `--map` pair asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// `-`: leave the column out.
    Ignore,
    /// A contact field, negated (`!gdpr`) or not.
    Field(Field, bool),
    /// `custom:Name` or `custom:#12`.
    Custom(CustomRef),
}

/// What the `--map` pairs decided, before the alias table is consulted.
#[derive(Default)]
pub(super) struct Overridden {
    pub sources: [Vec<Source>; FIELDS],
    /// For each column named by an override: which override, and its target.
    pub named_by: Vec<Option<(usize, Target)>>,
    /// The override that set each field directly, and its columns.
    pub direct_by: [Option<(usize, Vec<usize>)>; FIELDS],
    /// Columns mapped to custom fields, bound once the definitions are known.
    pub custom: Vec<(usize, CustomRef, String)>,
}

/// The `--map` pairs, in order: which columns each names and what they feed. A column named
/// twice must be named for the same thing; a field set directly twice must get the same columns.
pub(super) fn apply_overrides(
    headers: &[String],
    overrides: &[(String, String)],
) -> Result<Overridden, MappingError> {
    let mut o = Overridden {
        named_by: vec![None; headers.len()],
        ..Overridden::default()
    };
    let arg = |i: usize| {
        let (h, f) = &overrides[i];
        format!("{}={}", esc(h, 60), esc(f, 40))
    };
    for (i, (header, field)) in overrides.iter().enumerate() {
        let target = parse_target(field.trim(), || arg(i))?;
        let (cols, listed) = override_columns(headers, header.trim(), || arg(i))?;
        for &c in &cols {
            if let Some((j, prev)) = &o.named_by[c]
                && *prev != target
            {
                return Err(MappingError::SameColumnTwice {
                    first: arg(*j),
                    second: arg(i),
                });
            }
            o.named_by[c] = Some((i, target.clone()));
        }
        let (f, negated) = match target {
            Target::Ignore => continue,
            Target::Custom(wanted) => {
                if cols.len() > 1 {
                    return Err(MappingError::CustomList { arg: arg(i) });
                }
                if !o.custom.iter().any(|(c, ..)| *c == cols[0]) {
                    o.custom.push((cols[0], wanted, arg(i)));
                }
                continue;
            }
            Target::Field(f, negated) => (f, negated),
        };
        if !listed && cols.len() > 1 {
            return Err(MappingError::DuplicateHeader {
                field: f,
                header: esc(header, 60),
                first: cols[0] + 1,
                second: cols[1] + 1,
            });
        }
        let list = &mut o.sources[f as usize];
        if negated {
            for &column in &cols {
                let s = Source {
                    column,
                    sense: Sense::Negated,
                };
                if !list.contains(&s) {
                    list.push(s);
                }
            }
            continue;
        }
        match &o.direct_by[f as usize] {
            Some((j, prev)) if *prev != cols => {
                return Err(MappingError::OverridesClash {
                    field: f,
                    first: arg(*j),
                    second: arg(i),
                });
            }
            Some(_) => continue,
            None => {}
        }
        for (k, &column) in cols.iter().enumerate() {
            let sense = if k == 0 {
                Sense::Direct
            } else {
                Sense::Fallback
            };
            list.push(Source { column, sense });
        }
        o.direct_by[f as usize] = Some((i, cols));
    }
    Ok(o)
}

/// The alias table over the columns no override named: one primary column per field (a field
/// an override set takes none), fallbacks, opt-outs; then each field's sources in reading
/// order. Returns the columns that mark an unsubscribed/cleaned export.
pub(super) fn apply_aliases(
    headers: &[String],
    sources: &mut [Vec<Source>; FIELDS],
    named: impl Fn(usize) -> bool,
    taken: impl Fn(Field) -> bool,
) -> Result<Vec<usize>, MappingError> {
    let mut primary: [Option<usize>; FIELDS] = [None; FIELDS];
    let mut opted_out_export = Vec::new();
    for (c, header) in headers.iter().enumerate() {
        if named(c) || is_own_column(header) {
            continue;
        }
        let Some((f, role)) = lookup(header) else {
            continue;
        };
        let sense = match role {
            Role::Primary | Role::Secondary if taken(f) => continue,
            Role::Primary => {
                if let Some(prev) = primary[f as usize] {
                    return Err(conflict(headers, f, prev, c));
                }
                primary[f as usize] = Some(c);
                continue;
            }
            Role::Secondary => Sense::Fallback,
            Role::OptOut => Sense::OptOut,
            Role::OptedOutExport => {
                opted_out_export.push(c);
                continue;
            }
        };
        sources[f as usize].push(Source { column: c, sense });
    }
    for f in Field::ALL {
        let list = &mut sources[f as usize];
        if let Some(column) = primary[f as usize] {
            list.insert(
                0,
                Source {
                    column,
                    sense: Sense::Direct,
                },
            );
        }
        list.sort_by_key(|s| s.sense as u8);
        // Without a primary column, the first fallback is the field's column.
        if let Some(first) = list.first_mut()
            && first.sense == Sense::Fallback
        {
            first.sense = Sense::Direct;
        }
    }
    Ok(opted_out_export)
}

fn conflict(headers: &[String], f: Field, prev: usize, c: usize) -> MappingError {
    if headers[prev].trim() == headers[c].trim() {
        MappingError::DuplicateHeader {
            field: f,
            header: esc(&headers[c], 60),
            first: prev + 1,
            second: c + 1,
        }
    } else {
        MappingError::Conflict {
            field: f,
            first: esc(&headers[prev], 60),
            second: esc(&headers[c], 60),
        }
    }
}

/// `email`, `!email_marketing`, `-`/`ignore`, `custom:Company`, `custom:#12`.
fn parse_target(field: &str, arg: impl Fn() -> String) -> Result<Target, MappingError> {
    if field == "-" || field.eq_ignore_ascii_case("ignore") {
        return Ok(Target::Ignore);
    }
    if let Some(prefix) = field.get(..7)
        && prefix.eq_ignore_ascii_case("custom:")
    {
        return CustomRef::parse(&field[7..])
            .map(Target::Custom)
            .ok_or_else(|| MappingError::UnknownField {
                arg: arg(),
                field: esc(field, 40),
            });
    }
    let (negated, name) = match field.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, field),
    };
    let f = field_named(name).ok_or_else(|| MappingError::UnknownField {
        arg: arg(),
        field: esc(name, 40),
    })?;
    if negated && !f.is_consent() {
        return Err(MappingError::NotNegatable { arg: arg() });
    }
    Ok(Target::Field(f, negated))
}

/// The columns an override names, and whether it listed several (`A,B`): the exact header
/// first, else headers equal under the alias table's normalisation, else a comma list.
fn override_columns(
    headers: &[String],
    want: &str,
    arg: impl Fn() -> String,
) -> Result<(Vec<usize>, bool), MappingError> {
    let named = |want: &str| -> Vec<usize> {
        let exact: Vec<usize> = (0..headers.len())
            .filter(|&c| headers[c].trim() == want)
            .collect();
        let n = normalize(want);
        if !exact.is_empty() || n.is_empty() {
            return exact;
        }
        (0..headers.len())
            .filter(|&c| normalize(&headers[c]) == n)
            .collect()
    };
    let missing = |part: &str| MappingError::NoSuchColumn {
        arg: arg(),
        header: esc(part, 60),
        headers: headers_seen(headers),
    };
    let cols = named(want);
    if !cols.is_empty() {
        return Ok((cols, false));
    }
    if !want.contains(',') {
        return Err(missing(want));
    }
    let mut cols = Vec::new();
    for part in want.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let c = *named(part).first().ok_or_else(|| missing(part))?;
        if !cols.contains(&c) {
            cols.push(c);
        }
    }
    Ok((cols, true))
}
