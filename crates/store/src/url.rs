//! The store URL (`store.url`): which backend, where.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::error::{Result, StoreError};

/// Where a store lives, parsed from its URL.
#[derive(Debug)]
pub(crate) enum Target {
    /// An SQLite file, created if missing (its directory must exist).
    SqliteFile(PathBuf),
    /// A private in-memory SQLite database (`sqlite::memory:`), gone when the store is dropped.
    SqliteMemory,
    /// A PostgreSQL server.
    Postgres(Box<PgConnectOptions>),
}

/// Parses `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, a plain path, or
/// `postgres://` / `postgresql://` URLs (libpq's URL form, with `?sslmode=` etc.).
pub(crate) fn parse(url: &str) -> Result<Target> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    if trimmed == "sqlite::memory:" || trimmed == ":memory:" {
        return Ok(Target::SqliteMemory);
    }
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return PgConnectOptions::from_str(trimmed)
            .map(|o| Target::Postgres(Box::new(o)))
            .map_err(|e| invalid(&e.to_string()));
    }
    let path = if let Some(rest) = trimmed.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        rest
    } else if let Some((scheme, _)) = trimmed.split_once("://") {
        return Err(invalid(&format!(
            "unknown scheme {scheme:?} (use sqlite://PATH, a plain path, or postgres://...)"
        )));
    } else {
        trimmed
    };
    if path.is_empty() {
        return Err(invalid("the SQLite path is empty"));
    }
    Ok(Target::SqliteFile(PathBuf::from(path)))
}

/// The URL with any password replaced by `***`, for errors and logs.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = url[auth_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| auth_start + i);
        let authority = &url[auth_start..auth_end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out = format!(
                    "{}***{}",
                    &url[..auth_start + colon + 1],
                    &url[auth_start + at..]
                );
            }
        }
    }
    // libpq also takes `?password=...`.
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", parts.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_forms_name_a_file() {
        for (url, path) in [
            (
                "sqlite:///var/lib/callrec/callrec.db",
                "/var/lib/callrec/callrec.db",
            ),
            ("sqlite://data/callrec.db", "data/callrec.db"),
            ("sqlite:callrec.db", "callrec.db"),
            ("/tmp/x.db", "/tmp/x.db"),
            ("x.db", "x.db"),
        ] {
            match parse(url) {
                Ok(Target::SqliteFile(p)) => assert_eq!(p, PathBuf::from(path), "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(matches!(parse("sqlite::memory:"), Ok(Target::SqliteMemory)));
    }

    #[test]
    fn postgres_urls_parse_and_bad_ones_are_refused() {
        assert!(matches!(
            parse("postgres://u:p@127.0.0.1:5432/db"),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse("postgresql://u@localhost/db?sslmode=disable"),
            Ok(Target::Postgres(_))
        ));
        for bad in [
            "",
            "  ",
            "mysql://x/y",
            "sqlite://",
            "postgres://u@h:notaport/db",
        ] {
            assert!(
                matches!(parse(bad), Err(StoreError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://callrec:s3cret@db:5432/callrec"),
            "postgres://callrec:***@db:5432/callrec"
        );
        assert_eq!(
            redact("postgres://callrec@db/callrec?password=s3cret&sslmode=require"),
            "postgres://callrec@db/callrec?password=***&sslmode=require"
        );
        assert_eq!(redact("sqlite:///a/b.db"), "sqlite:///a/b.db");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
    }
}
