//! Placeholder until the egulias-compatible validator lands: accepts `local@domain`.
pub fn is_valid_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
