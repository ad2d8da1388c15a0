//! The shape of the code, checked statically: SQL lives in the gateway's `store` only, and no
//! hand-written file in `services/` grows past what a reader takes in (test modules aside).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The file's lines before its `#[cfg(test)]` module.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .collect()
}

#[test]
fn no_gateway_file_outside_the_store_speaks_sql() {
    let src = root().join("services/gateway/src");
    let store = src.join("store");
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        if file.starts_with(&store) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in code_lines(&text).iter().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            let sql = [
                "sqlx::query",
                "query_as(",
                "query_scalar(",
                "PgPool",
                "PgConnection",
                "SELECT ",
                "UPDATE ",
                "INSERT ",
                "DELETE FROM",
                "pg_notify",
            ]
            .iter()
            .any(|word| line.contains(word));
            if sql {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "SQL outside services/gateway/src/store:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_file_in_services_is_over_600_lines_of_code() {
    let mut long = Vec::new();
    let services = root().join("services");
    for file in rust_files(&services) {
        // Integration tests are test code.
        if file
            .strip_prefix(&services)
            .is_ok_and(|p| p.components().any(|c| c.as_os_str() == "tests"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let lines = code_lines(&text).len();
        if lines > 600 {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over 600 lines of code (test modules aside):\n{}",
        long.join("\n")
    );
}
