//! The deny list: serials of certificates the hub no longer accepts, whatever their validity.
//!
//! A text file, one serial per line in hex (colons and case ignored, `#` starts a comment),
//! written by `hubctl pki revoke`. Servers read it again whenever its modification time or
//! length changes, checked at each handshake (a `stat`, no more), so a revocation takes effect
//! on the next connection without a restart. A list that cannot be read refuses everyone rather
//! than letting a revoked certificate in.

use std::{
    collections::HashSet,
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use crate::TrustError;

/// What a new deny list file starts with.
pub(crate) const HEADER: &str =
    "# Serials of revoked certificates, one per line (hubctl pki revoke).\n";

/// A deny list file, reloaded when it changes.
#[derive(Clone, Debug)]
pub struct DenyList {
    path: Option<PathBuf>,
    state: Arc<Mutex<Loaded>>,
}

#[derive(Debug, Default)]
struct Loaded {
    /// Modification time and length of the file when last read.
    stamp: Option<(SystemTime, u64)>,
    serials: HashSet<String>,
    /// The file could not be read: refuse everyone.
    broken: bool,
}

impl DenyList {
    /// No deny list: nothing is revoked.
    pub fn none() -> Self {
        Self {
            path: None,
            state: Arc::default(),
        }
    }

    /// The deny list in `path` (which must exist).
    pub fn open(path: &Path) -> Result<Self, TrustError> {
        let list = Self {
            path: Some(path.to_path_buf()),
            state: Arc::default(),
        };
        list.refresh()?;
        Ok(list)
    }

    /// Whether the certificate with `serial` (lower-case hex) is refused.
    pub fn denies(&self, serial: &str) -> bool {
        let refreshed = self.refresh();
        let Ok(state) = self.state.lock() else {
            return true;
        };
        if refreshed.is_err() || state.broken {
            tracing::error!(path = ?self.path, "the deny list cannot be read: refusing every certificate");
            return true;
        }
        state.serials.contains(serial)
    }

    /// Reads the file again if it changed since it was last read.
    fn refresh(&self) -> Result<(), TrustError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut state = self
            .state
            .lock()
            .map_err(|_| TrustError::Poisoned("deny list"))?;
        let stamp = fs::metadata(path)
            .and_then(|m| Ok((m.modified()?, m.len())))
            .map_err(|e| {
                state.broken = true;
                TrustError::io(path, e)
            })?;
        if state.stamp == Some(stamp) && !state.broken {
            return Ok(());
        }
        let text = fs::read_to_string(path).map_err(|e| {
            state.broken = true;
            TrustError::io(path, e)
        })?;
        state.serials = parse(&text);
        state.stamp = Some(stamp);
        state.broken = false;
        tracing::info!(path = %path.display(), revoked = state.serials.len(), "deny list loaded");
        Ok(())
    }
}

/// The serials of a deny list's text, normalised.
fn parse(text: &str) -> HashSet<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .map(normalise)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A serial as written by people or tools (`1A:2B…`, `0x1a2b…`) as the list holds it.
pub fn normalise(serial: &str) -> String {
    let s = serial.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    s.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Bytes as lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds `serial` to the deny list in `path` (created if missing); false if it was there.
pub fn revoke(path: &Path, serial: &str, note: &str) -> Result<bool, TrustError> {
    let serial = normalise(serial);
    if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(TrustError::BadSerial(serial));
    }
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HEADER.to_string(),
        Err(e) => return Err(TrustError::io(path, e)),
    };
    if parse(&text).contains(&serial) {
        return Ok(false);
    }
    let mut text = text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let note = note.replace('\n', " ");
    text.push_str(&format!("{serial}  # {note}\n"));
    // Written whole to a neighbour and renamed, so a server never reads half a list.
    let temporary = crate::with_suffix(path, ".new");
    fs::write(&temporary, text).map_err(|e| TrustError::io(&temporary, e))?;
    fs::rename(&temporary, path).map_err(|e| TrustError::io(path, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_compared_however_they_are_written() {
        let list = parse("# header\n1A:2B:3c  # court 京0105, lost laptop\n0xFFee\n\n");
        assert_eq!(list.len(), 2);
        assert!(list.contains("1a2b3c"));
        assert!(list.contains("ffee"));
    }

    #[test]
    fn a_revocation_is_seen_by_a_list_already_open() {
        let dir = crate::tests::scratch("deny");
        let path = dir.join("revoked.txt");
        fs::write(&path, HEADER).expect("write");
        let list = DenyList::open(&path).expect("open");
        assert!(!list.denies("abcd"));
        assert!(revoke(&path, "AB:CD", "test").expect("revoke"));
        assert!(!revoke(&path, "abcd", "again").expect("revoke"));
        assert!(list.denies("abcd"));
        assert!(!list.denies("abce"));
        fs::remove_file(&path).expect("remove");
        assert!(list.denies("abce"), "an unreadable list refuses everyone");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_serial_must_be_hex() {
        let dir = crate::tests::scratch("deny-bad");
        let err = revoke(&dir.join("revoked.txt"), "court-京0105.pem", "x").expect_err("not hex");
        assert!(matches!(err, TrustError::BadSerial(_)));
        let _ = fs::remove_dir_all(dir);
    }
}
