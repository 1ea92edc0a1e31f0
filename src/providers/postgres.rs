//! The `postgres` provider (placeholder until the server-backed implementation lands).

use super::{Provider, ProviderError, ProviderInfo, Readiness};
use crate::addon::Resource;
use crate::config::ServerSettings;

/// Registry entry for `postgres`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "postgres",
    vars: &["DATABASE_URL"],
    params: &[],
    check_params: |_| Ok(()),
    needs: Some("[providers.postgres]\nurl = \"postgres://postgres:PASSWORD@127.0.0.1:5432/postgres\""),
    summary: "a PostgreSQL login role and a database it owns",
};

/// Talks to the server named in the config file.
pub struct Postgres {
    server: ServerSettings,
}

impl Postgres {
    pub fn new(server: ServerSettings) -> Self {
        Postgres { server }
    }

    fn todo(&self) -> ProviderError {
        ProviderError::Permanent(format!("the postgres provider for {} is not built yet", self.server.display_url()))
    }
}

impl Provider for Postgres {
    fn begin_provision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Err(self.todo())
    }
    fn provision_complete(&self, _addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        Err(self.todo())
    }
    fn get_config(&self, _addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        Err(self.todo())
    }
    fn deprovision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Err(self.todo())
    }
    fn health(&self) -> Result<String, ProviderError> {
        Err(self.todo())
    }
}
