//! `nephele serve`: load the config, start demo mode if there is no token, serve.

use std::process::ExitCode;

use nephele_core::Secret;
use nephele_server::{App, Config};

use crate::args::{LogFormat, ServeArgs};
use crate::demo;

fn init_telemetry(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,reqwest=warn"));
    // Colours only for a person at a terminal, never as escape codes in a file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => {
            use tracing_subscriber::field::MakeExt;
            logs.fmt_fields(tracing_subscriber::fmt::format::debug_fn(write_escaped_field).delimited(" "))
                .init()
        }
        // `span` is the innermost span (a provider call, a store query); `spans` lists them all,
        // so the request's span (with its request_id) is on every line of the request.
        LogFormat::Json => logs.json().with_current_span(true).with_span_list(true).init(),
    }
}

/// One field of a text log line, its control characters escaped: a plugin's output, a cloud's
/// message or a caller's header can hold a carriage return or a newline, and written raw it
/// would start what reads as another log line (or move a terminal's cursor). JSON logs are
/// escaped by JSON itself.
fn write_escaped_field(
    writer: &mut tracing_subscriber::fmt::format::Writer<'_>,
    field: &tracing::field::Field,
    value: &dyn std::fmt::Debug,
) -> std::fmt::Result {
    use std::fmt::Write;
    let mut out = Escaping(writer);
    match field.name() {
        "message" => write!(out, "{value:?}"),
        name => write!(out, "{}={value:?}", name.trim_start_matches("r#")),
    }
}

/// Passes text through with every control character (and the Unicode line and paragraph
/// separators) written as an escape: `\r`, `\n`, `\t`, else `\u{..}`.
struct Escaping<W>(W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            if !(c.is_control() || c == '\u{2028}' || c == '\u{2029}') {
                continue;
            }
            self.0.write_str(&text[plain..at])?;
            match c {
                '\r' => self.0.write_str("\\r")?,
                '\n' => self.0.write_str("\\n")?,
                '\t' => self.0.write_str("\\t")?,
                other => write!(self.0, "\\u{{{:x}}}", u32::from(other))?,
            }
            plain = at + c.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

const RULE: &str = "==========================================================================";

pub async fn run(args: ServeArgs) -> ExitCode {
    init_telemetry(args.log_format);
    nephele_digitalocean::install_crypto_provider();
    let (mut config, path) = match Config::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("nephele: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    match &path {
        Some(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        None => tracing::info!("no config.yaml found; using defaults"),
    }

    // Demo mode only when nothing at all is configured: a server with plugins, with other
    // DigitalOcean accounts, or with a master key (its accounts are added at runtime and kept in
    // its database: demo mode's open API would hand them to anyone) is a real one.
    let demo_mode = config.providers.digitalocean.as_ref().and_then(|d| d.token()).is_none()
        && config.providers.plugins.is_empty()
        && config.providers.digitalocean_accounts.is_empty()
        && config.secrets.master_key.is_none()
        && config.secrets.master_key_file.is_none();
    let _simulator = if demo_mode {
        let digitalocean = config.providers.digitalocean.get_or_insert_with(Default::default);
        let (sim, token) = match demo::start_simulator().await {
            Ok(started) => started,
            Err(e) => {
                eprintln!("nephele: cannot start the demo simulator: {e}");
                return ExitCode::FAILURE;
            }
        };
        digitalocean.api_token = Some(Secret::new(token));
        digitalocean.base_url = Some(sim.base_url());
        digitalocean.region.get_or_insert_with(|| "nyc1".to_owned());
        // `initialize` must not read the file again: it lacks the simulator's token. The demo
        // keeps the configuration it started with (plugin paths are then relative to the
        // working folder, where `make run` is started).
        config.source = None;
        // The simulator is new each time, so the demo keeps its state in a fresh file too,
        // and runs open unless the config asks for keys.
        if config.database.url.is_none() {
            let path = std::env::temp_dir().join(format!("nephele-demo-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            config.database.url = Some(format!("sqlite://{}", path.display()));
        }
        config.auth.required.get_or_insert(false);
        println!("{RULE}");
        println!("  DEMO MODE: no DigitalOcean token is configured.");
        println!("  Nephele is talking to its built-in DigitalOcean simulator at {}.", sim.base_url());
        println!("  Nothing is real and nothing costs money. Set DIGITALOCEAN_TOKEN (or");
        println!("  providers.digitalocean.api_token in config.yaml) to manage your account.");
        println!("  AWS EC2 is not configured: add providers.aws (plugin: nephele-provider-aws,");
        println!("  region, access_key_id, secret_access_key) to config.yaml; see the README.");
        if config.auth.required == Some(false) {
            println!("  The API is OPEN in demo mode: no API key is needed.");
        }
        println!("{RULE}");
        Some(sim)
    } else {
        let url = config
            .providers
            .digitalocean
            .as_ref()
            .and_then(|d| d.base_url.clone())
            .unwrap_or_else(|| "https://api.digitalocean.com".to_owned());
        println!("{RULE}");
        println!("  DigitalOcean at {url} with the configured token: this is a REAL");
        println!("  account. Instances you create are billed.");
        println!("{RULE}");
        None
    };

    let auth_required = config.auth.required.unwrap_or(true);
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("nephele: {e}");
            return ExitCode::FAILURE;
        }
    };
    if auth_required && app.state().store.count_active_api_keys().await.unwrap_or(0) == 0 {
        println!("No API keys exist yet; every API request will get 401. Make the first admin key with:");
        println!("    nephele keys create --role admin");
    }
    println!("the dashboard is at http://{0}/ and the API reference at http://{0}/docs/", app.addr());
    // Scripts and tests wait for this line to learn the address, and may close stdout after it:
    // it is the last thing written there (a later `println!` would panic on the closed pipe).
    println!("nephele listening on http://{}", app.addr());
    let shutdown = async {
        let signal = stop_signal().await;
        tracing::info!(signal, "shutting down: finishing requests in flight, handing back leases");
    };
    match app.run_until(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nephele: server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGTERM (what systemd and Kubernetes send to stop a service) or SIGINT (Ctrl-C),
/// and names the one that came: both take the same clean path.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server cleanly");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::Escaping;

    #[test]
    fn control_characters_are_escaped_and_the_rest_is_kept() {
        let mut out = Escaping(String::new());
        write!(out, "ok\r2026-01-01T00:00:00Z  INFO forged\nnext\u{1b}[31m\ttab é\u{2028}end")
            .expect("write");
        assert_eq!(out.0, "ok\\r2026-01-01T00:00:00Z  INFO forged\\nnext\\u{1b}[31m\\ttab é\\u{2028}end");
        assert!(!out.0.contains(['\r', '\n', '\u{1b}']));
    }
}
