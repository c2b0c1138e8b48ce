//! `nephele keys create`: issue an API key straight into the configured database, offline, so
//! the first admin key can be made before any key exists.

use std::process::ExitCode;

use nephele_engine::auth::{Role, issue_key};
use nephele_engine::store::Store;
use nephele_server::Config;
use serde_json::json;

use crate::args::{KeysCommand, Output};

pub async fn run(command: KeysCommand, output: Output, provider: Option<String>) -> ExitCode {
    let KeysCommand::Create { role, description, config } = command;
    let providers: Vec<String> = provider.into_iter().collect();
    let Some(role) = Role::parse(&role) else {
        eprintln!("nephele: --role must be viewer, operator or admin, got {role:?}");
        return ExitCode::from(2);
    };
    nephele_digitalocean::install_crypto_provider();
    let config = match Config::load(config.as_deref()) {
        Ok((config, _)) => config,
        Err(e) => {
            eprintln!("nephele: {e}");
            return ExitCode::from(2);
        }
    };
    // As the API does: a key may only name providers this configuration has.
    let configured = nephele_engine::providers::configured_names(&config);
    if let Some(unknown) = providers.iter().find(|p| !configured.contains(p)) {
        let list = if configured.is_empty() { "none".to_owned() } else { configured.join(", ") };
        eprintln!("nephele: no provider named {unknown:?} is configured (configured: {list})");
        return ExitCode::from(2);
    }
    let store = match Store::open(config.database.url()).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("nephele: cannot open the database {}: {e}", config.database.url());
            return ExitCode::FAILURE;
        }
    };
    let scope = (!providers.is_empty()).then_some(providers.as_slice());
    match issue_key(&store, role, scope, description.as_deref()).await {
        Ok(issued) => {
            match output {
                Output::Json => println!(
                    "{}",
                    json!({ "id": issued.id, "key": issued.key, "role": role.as_str(), "providers": scope })
                ),
                Output::Table => {
                    println!("{}", issued.key);
                    eprintln!(
                        "Made {} key {} ({}). It is shown only this once: store it now.",
                        role.as_str(),
                        issued.id,
                        scope
                            .map(|p| format!("providers: {}", p.join(", ")))
                            .unwrap_or_else(|| "all providers".to_owned())
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nephele: cannot store the key: {e}");
            ExitCode::FAILURE
        }
    }
}
