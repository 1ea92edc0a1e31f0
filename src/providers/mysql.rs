//! The `mysql` provider (placeholder until the server-backed implementation lands).

use super::{Provider, ProviderError, ProviderInfo, Readiness};
use crate::addon::Resource;
use crate::config::ServerSettings;

/// Registry entry for `mysql`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "mysql",
    vars: &["DATABASE_URL"],
    params: &[],
    check_params: |_| Ok(()),
    needs: Some("[providers.mysql]\nurl = \"mysql://root:PASSWORD@127.0.0.1:3306\""),
    summary: "a MySQL/MariaDB user and a database it alone can use",
};

/// Talks to the server named in the config file.
pub struct Mysql {
    server: ServerSettings,
}

impl Mysql {
    pub fn new(server: ServerSettings) -> Self {
        Mysql { server }
    }

    fn todo(&self) -> ProviderError {
        ProviderError::Permanent(format!(
            "the mysql provider for {} is not built yet",
            self.server.display_url()
        ))
    }
}

impl Provider for Mysql {
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
