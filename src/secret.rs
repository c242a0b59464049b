//! The API key: where it may come from, and how it is kept out of every output.
//!
//! Only `WOLFEO_API_KEY` or `--api-key-file` (never a flag, which would show in
//! `/proc/PID/cmdline` and shell history). The key lives in an [`ApiKey`] whose `Debug` and
//! `Display` are redacted, and goes on the wire only as a sensitive `Authorization` header.

use std::fmt;
use std::path::Path;

use crate::exit::Fatal;

pub const ENV_VAR: &str = "WOLFEO_API_KEY";

#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The only way to read the key: to build the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Names an account without holding its key: hex SHA-256 of the base URL (without a trailing
/// `/`) and the key. The one definition behind the export state's `account` and the shared
/// budget's file name; what it returns tells nothing about the key.
pub fn account_digest(base_url: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(base_url.trim_end_matches('/').as_bytes());
    hash.update(b"\n");
    hash.update(key.as_bytes());
    hex::encode(hash.finalize())
}

/// Reads the key from `--api-key-file` if given, else from the environment.
/// `warn` receives a one-line warning when the file is readable by other users.
pub fn load(file: Option<&Path>, warn: &mut dyn FnMut(String)) -> Result<ApiKey, Fatal> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Fatal::usage(format!(
                "{}: cannot read the API key file: {e}",
                path.display()
            ))
        })?;
        if readable_by_others(path) {
            warn(format!(
                "warning: {} is readable by other users; run: chmod 600 {}",
                path.display(),
                path.display()
            ));
        }
        let key = text.trim();
        if key.is_empty() {
            return Err(Fatal::usage(format!(
                "{}: the API key file is empty",
                path.display()
            )));
        }
        return Ok(ApiKey::new(key));
    }
    match std::env::var(ENV_VAR) {
        Ok(key) if !key.trim().is_empty() => Ok(ApiKey::new(key.trim())),
        _ => Err(Fatal::usage(format!(
            "no API key: set {ENV_VAR} or pass --api-key-file PATH (or try --sandbox)"
        ))),
    }
}

#[cfg(unix)]
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub(crate) fn readable_by_others(_: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let key = ApiKey::new("sk-very-secret");
        assert!(!format!("{key:?}").contains("secret"));
        assert!(!format!("{key}").contains("secret"));
        assert_eq!(key.expose(), "sk-very-secret");
    }

    #[cfg(unix)]
    #[test]
    fn warns_about_a_world_readable_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "k-123\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut warnings = Vec::new();
        let key = load(Some(&path), &mut |w| warnings.push(w)).unwrap();
        assert_eq!(key.expose(), "k-123");
        assert_eq!(warnings.len(), 1);
        assert!(!warnings[0].contains("k-123"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        warnings.clear();
        load(Some(&path), &mut |w| warnings.push(w)).unwrap();
        assert!(warnings.is_empty());
    }
}
