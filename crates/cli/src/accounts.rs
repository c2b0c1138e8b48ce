//! `nephele accounts list|add|update|remove` and `nephele secrets generate|rotate`.
//!
//! A credential is read from standard input (`--token-stdin`, `--credentials-stdin`), never
//! taken as an argument: arguments are visible to every user of the machine (`ps`) and kept in
//! shell histories.

use std::io::Read;
use std::process::ExitCode;

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::args::{AccountSettingsArgs, AccountsCommand, CredentialArgs, Output, SecretsCommand};
use crate::client::{ApiClient, CliError};
use crate::commands::{print, text};
use crate::table;

/// The most a credential read from standard input may be.
const MAX_CREDENTIAL_BYTES: u64 = 64 * 1024;

fn settings(args: &AccountSettingsArgs) -> Result<Option<Map<String, Value>>, CliError> {
    let mut settings = Map::new();
    if let Some(region) = &args.region {
        settings.insert("region".to_owned(), json!(region));
    }
    for pair in &args.settings {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Other(format!("--setting {pair:?}: expected KEY=VALUE")))?;
        let value = match value {
            "true" => json!(true),
            "false" => json!(false),
            number if number.parse::<u64>().is_ok() => json!(number.parse::<u64>().unwrap_or_default()),
            other => json!(other),
        };
        settings.insert(key.to_owned(), value);
    }
    Ok((!settings.is_empty()).then_some(settings))
}

fn credentials(args: &CredentialArgs) -> Result<Option<Value>, CliError> {
    if !args.token_stdin && !args.credentials_stdin {
        return Ok(None);
    }
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_CREDENTIAL_BYTES)
        .read_to_string(&mut input)
        .map_err(|e| CliError::Other(format!("cannot read the credential from standard input: {e}")))?;
    let input = input.trim();
    if input.is_empty() {
        return Err(CliError::Other("standard input held no credential".to_owned()));
    }
    if args.token_stdin {
        return Ok(Some(json!({"api_token": input})));
    }
    match serde_json::from_str::<Value>(input) {
        Ok(object @ Value::Object(_)) => Ok(Some(object)),
        // Not quoted: it may be most of a credential.
        _ => Err(CliError::Other("--credentials-stdin: standard input is not a JSON object".to_owned())),
    }
}

fn account_table(accounts: &[Value]) -> String {
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            ["name", "type", "status", "defined_in", "fingerprint", "error"]
                .iter()
                .map(|k| text(&a[*k]))
                .collect()
        })
        .collect();
    table::render(&["NAME", "TYPE", "STATUS", "DEFINED IN", "CREDENTIAL", "LAST ERROR"], &rows)
}

pub async fn run(client: &ApiClient, out: Output, command: AccountsCommand) -> Result<(), CliError> {
    match command {
        AccountsCommand::List => {
            let v = client.call(Method::GET, "/api/v1/providers", None).await?;
            print(out, &v, |v| {
                account_table(v["providers"].as_array().map(Vec::as_slice).unwrap_or_default())
            });
        }
        AccountsCommand::Add {
            name,
            provider_type,
            settings: settings_args,
            credentials: credential_args,
        } => {
            let credentials = credentials(&credential_args)?.ok_or_else(|| {
                CliError::Other(
                    "give the credential on standard input: --token-stdin or --credentials-stdin".to_owned(),
                )
            })?;
            let body = json!({
                "name": name,
                "type": provider_type,
                "settings": settings(&settings_args)?.unwrap_or_default(),
                "credentials": credentials,
            });
            let v = client.call(Method::POST, "/api/v1/providers", Some(&body)).await?;
            print(out, &v, |v| account_table(std::slice::from_ref(v)));
        }
        AccountsCommand::Update { name, settings: settings_args, credentials: credential_args } => {
            let mut body = Map::new();
            if let Some(settings) = settings(&settings_args)? {
                body.insert("settings".to_owned(), Value::Object(settings));
            }
            if let Some(credentials) = credentials(&credential_args)? {
                body.insert("credentials".to_owned(), credentials);
            }
            if body.is_empty() {
                return Err(CliError::Other(
                    "nothing to change: give --region/--setting, --token-stdin or --credentials-stdin"
                        .to_owned(),
                ));
            }
            let v = client
                .call(Method::PATCH, &format!("/api/v1/providers/{name}"), Some(&Value::Object(body)))
                .await?;
            print(out, &v, |v| account_table(std::slice::from_ref(v)));
        }
        AccountsCommand::Remove { name, force } => {
            let path = format!("/api/v1/providers/{name}{}", if force { "?force=true" } else { "" });
            client.call(Method::DELETE, &path, None).await?;
            println!("account {name} removed");
        }
    }
    Ok(())
}

pub async fn secrets(client: &ApiClient, out: Output, command: SecretsCommand) -> Result<(), CliError> {
    match command {
        SecretsCommand::Generate { out } => {
            generate_key(&out);
            Ok(())
        }
        SecretsCommand::Rotate { new_key_file } => {
            let path = std::path::absolute(&new_key_file).unwrap_or(new_key_file);
            let body = json!({"new_key_file": path.display().to_string()});
            let v = client.call(Method::POST, "/api/v1/secrets/rotate", Some(&body)).await?;
            print(out, &v, |v| {
                format!(
                    "re-wrapped {} account(s) under key {} in {} ms ({} already, {} changed meanwhile, unreadable: {})",
                    text(&v["rewrapped"]),
                    text(&v["key_id"]),
                    text(&v["took_ms"]),
                    text(&v["already"]),
                    text(&v["changed_meanwhile"]),
                    v["unreadable"].as_array().filter(|l| !l.is_empty()).map_or("none".to_owned(), |l| l
                        .iter()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(", "))
                )
            });
            Ok(())
        }
    }
}

/// `nephele secrets generate --out FILE`: a new key, written to a new file readable by its owner
/// only; the key is printed nowhere.
pub fn generate_key(out: &std::path::Path) -> ExitCode {
    use std::io::Write;
    let key = match nephele_engine::secrets::MasterKey::generate() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("nephele: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(out).and_then(|mut file| file.write_all(key.to_base64().as_bytes()));
    match written {
        Ok(()) => {
            println!("wrote master key {} to {}", key.id(), out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nephele: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
