//! Where a state is: a SQLite file path, or a PostgreSQL URL (with the schema its
//! tables live in). Given by `--state`, `ADDONS_STATE` or `[state] url`.

use std::path::{Path, PathBuf};

use url::Url;

pub use super::postgres::PostgresLocation;

/// The schema a PostgreSQL state lives in unless `?schema=` or `[state] schema` says otherwise.
pub const DEFAULT_SCHEMA: &str = "addons";

/// Where a state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A SQLite state file.
    File(PathBuf),
    /// A schema on a PostgreSQL server.
    Postgres(PostgresLocation),
}

impl StateLocation {
    /// Reads `--state`/`ADDONS_STATE`/`[state] url`: a `postgres://` or
    /// `postgresql://` URL, else a file path. `schema` (from `[state] schema`) is used
    /// when the URL has no `?schema=`.
    pub fn parse(text: &str, schema: Option<&str>) -> Result<StateLocation, String> {
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Ok(StateLocation::File(PathBuf::from(text)));
        }
        let mut url = Url::parse(text).map_err(|err| {
            format!(
                "{} is not a valid PostgreSQL URL ({err}); write postgres://USER@HOST/DB",
                crate::masking::mask_urls_in(text)
            )
        })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{} has no host; write postgres://USER@HOST/DB", crate::masking::mask_urls_in(text)));
        }
        // The other parameters are kept as written: encoded again, a space would become
        // `+`, which the client passes on as it is (`options=-c%20x%3D1`).
        let mut from_url = None;
        let mut kept = Vec::new();
        for pair in url.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_encoding::percent_decode_str(key).decode_utf8_lossy() == "schema" {
                true => from_url = Some(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned()),
                false => kept.push(pair.to_string()),
            }
        }
        let kept = kept.join("&");
        url.set_query(Some(kept.as_str()).filter(|query| !query.is_empty()));
        let schema = from_url.as_deref().or(schema).unwrap_or(DEFAULT_SCHEMA).to_string();
        check_schema(&schema)?;
        let location = PostgresLocation { url, schema };
        // What the client can't use (`sslmode=bogus`, an unknown parameter) is bad input
        // too, refused before anything connects.
        super::postgres::Location::new(&location)?;
        Ok(StateLocation::Postgres(location))
    }

    /// The file path, when the state is a file.
    pub fn file(&self) -> Option<&Path> {
        match self {
            StateLocation::File(path) => Some(path),
            StateLocation::Postgres(_) => None,
        }
    }

    /// The location as `--state` and `ADDONS_STATE` take it, password and all: for a
    /// worker this process starts, in its environment (never on its command line).
    pub fn as_setting(&self) -> String {
        match self {
            StateLocation::File(path) => {
                std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string()
            }
            StateLocation::Postgres(pg) => {
                let mut url = pg.url.clone();
                url.query_pairs_mut().append_pair("schema", &pg.schema);
                url.to_string()
            }
        }
    }

    /// Where it is, for messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            StateLocation::File(path) => path.display().to_string(),
            StateLocation::Postgres(pg) => pg.describe(),
        }
    }
}

/// Checks a schema name: plain lower-case, so it needs no quoting anywhere.
pub fn check_schema(schema: &str) -> Result<(), String> {
    if schema.is_empty()
        || schema.len() > 63
        || !schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || schema.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(format!(
            "schema {schema:?} is not a plain lower-case PostgreSQL name; use letters, digits and _ (e.g. addons)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart() {
        assert_eq!(StateLocation::parse("/tmp/x.db", None), Ok(StateLocation::File("/tmp/x.db".into())));
        assert_eq!(StateLocation::parse("postgres.db", None), Ok(StateLocation::File("postgres.db".into())));
        let StateLocation::Postgres(pg) =
            StateLocation::parse("postgresql://u:hunter2@h:5433/db?sslmode=require&schema=t_1", Some("x")).unwrap()
        else {
            panic!("not a URL")
        };
        assert_eq!(pg.schema, "t_1");
        assert_eq!(pg.url.query(), Some("sslmode=require"));
        assert!(!pg.describe().contains("hunter2"), "{}", pg.describe());
        let StateLocation::Postgres(pg) = StateLocation::parse("postgres://u@h/db", Some("fleet")).unwrap() else {
            panic!("not a URL")
        };
        assert_eq!(pg.schema, "fleet");
        assert_eq!(pg.describe(), "postgres://u@h/db?schema=fleet");
        let StateLocation::Postgres(pg) = StateLocation::parse(
            "postgres://u@h/db?options=-c%20statement_timeout%3D1&schema=t&application_name=a+b",
            None,
        )
        .unwrap_or_else(|err| panic!("{err}")) else {
            panic!("not a URL")
        };
        assert_eq!(pg.url.query(), Some("options=-c%20statement_timeout%3D1&application_name=a+b"), "as written");
        let err = StateLocation::parse("postgres://u:hunter2@h/db?schema=Bad-Name", None).unwrap_err();
        assert!(!err.contains("hunter2") && err.contains("schema"), "{err}");
    }
}
