//! `nephele plugin check PATH`: the conformance suite for provider plugins.
//!
//! It starts the plugin exactly as the server does (same code: `nephele_engine::plugins`), then
//! drives it through the `Provider` trait, printing one line per check. The exit status is 0 only
//! when every check passed, so plugin authors can run it in their CI.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nephele_core::{
    ActionStatus, CreateInstances, ErrorCode, InstanceFilter, InstanceId, InstanceName, InstanceStatus,
    OperationId, PowerAction, Provider, ProviderError, ResourceId, ResourceKind, Secret,
};
use nephele_engine::plugins::{PluginProvider, PluginSpec};
use nephele_server::Config;

use crate::args::PluginCheckArgs;

/// What the checks found.
#[derive(Default)]
struct Report {
    passed: usize,
    failed: Vec<String>,
}

impl Report {
    fn check(&mut self, name: &str, outcome: Result<String, String>) -> bool {
        match outcome {
            Ok(detail) => {
                self.passed += 1;
                println!(
                    "  ok    {name}{}",
                    if detail.is_empty() { String::new() } else { format!(": {detail}") }
                );
                true
            }
            Err(why) => {
                println!("  FAIL  {name}: {why}");
                self.failed.push(format!("{name}: {why}"));
                false
            }
        }
    }
}

fn expect_kind(
    result: Result<impl std::fmt::Debug, ProviderError>,
    code: ErrorCode,
) -> Result<String, String> {
    match result {
        Err(e) if e.code() == code => Ok(format!("{code} as it must be")),
        Err(e) => Err(format!("expected a {code} failure, got {} ({e})", e.code())),
        Ok(v) => Err(format!("expected a {code} failure, got an answer: {v:?}")),
    }
}

/// Settings and name for the plugin: from `--config` when given.
fn spec(args: &PluginCheckArgs, provider: Option<String>) -> Result<PluginSpec, String> {
    let program = std::path::absolute(&args.path).map_err(|e| e.to_string())?;
    let guessed = program
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches("nephele-provider-").to_owned())
        .unwrap_or_default();
    let Some(path) = &args.config else {
        let name = provider.unwrap_or(guessed);
        return Ok(PluginSpec {
            provider_type: name.clone(),
            name,
            program,
            sha256: None,
            settings: Secret::new(serde_json::json!({})),
        });
    };
    let (config, _) = Config::load(Some(path)).map_err(|e| e.to_string())?;
    let names = nephele_engine::providers::configured_names(&config);
    let name = match provider {
        Some(name) => name,
        None if names.len() == 1 => names[0].clone(),
        None => config
            .providers
            .plugins
            .iter()
            .find(|(_, p)| Path::new(&p.plugin).file_name() == program.file_name())
            .map(|(name, _)| name.clone())
            .or_else(|| names.iter().find(|n| **n == guessed).cloned())
            .ok_or_else(|| format!("{} configures {names:?}: say which with --provider", path.display()))?,
    };
    // The section's settings, whether the section says `plugin:` or (digitalocean) not.
    let mut for_plugin = config.clone();
    for_plugin.providers.plugins.entry(name.clone()).or_insert_with(|| {
        nephele_engine::config::PluginConfig {
            provider_type: name.clone(),
            plugin: program.display().to_string(),
            sha256: None,
            settings: Secret::new(Default::default()),
        }
    });
    let mut spec = nephele_engine::providers::plugin_spec(&for_plugin, &name)
        .ok_or_else(|| format!("providers.{name} is not in {}", path.display()))?;
    spec.program = program;
    Ok(spec)
}

pub async fn run(args: PluginCheckArgs, provider: Option<String>) -> ExitCode {
    nephele_digitalocean::install_crypto_provider();
    let spec = match spec(&args, provider) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("nephele: {e}");
            return ExitCode::from(2);
        }
    };
    println!("Checking plugin {} ({}):", spec.name, spec.program.display());
    let mut report = Report::default();
    refuses_without_cookie(&mut report, &spec).await;
    let plugin = PluginProvider::start(spec.clone()).await;
    let started = report.check(
        "handshake, health SERVING, Configure",
        match plugin.problem() {
            None => Ok(format!("{} {}", plugin.info().display_name, plugin.info().version)),
            Some(problem) => Err(problem),
        },
    );
    if started {
        run_checks(&mut report, &plugin, &args, &spec.name).await;
    }
    plugin.stop().await;
    println!();
    if report.failed.is_empty() {
        println!("{} checks passed.", report.passed);
        ExitCode::SUCCESS
    } else {
        println!("{} passed, {} FAILED:", report.passed, report.failed.len());
        for failure in &report.failed {
            println!("  - {failure}");
        }
        ExitCode::FAILURE
    }
}

/// Started by hand (no magic cookie), a plugin must refuse and exit, printing no handshake.
async fn refuses_without_cookie(report: &mut Report, spec: &PluginSpec) {
    let run = tokio::process::Command::new(&spec.program)
        .env_remove(nephele_plugin_protocol::handshake::MAGIC_COOKIE_KEY)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let outcome = match tokio::time::timeout(Duration::from_secs(10), run).await {
        Err(_) => Err("still running 10 s after being started without the magic cookie".to_owned()),
        Ok(Err(e)) => Err(format!("cannot run it: {e}")),
        Ok(Ok(out)) if out.status.success() => Err("exited 0 without the magic cookie".to_owned()),
        Ok(Ok(out)) if String::from_utf8_lossy(&out.stdout).contains("|grpc") => {
            Err("printed a handshake line without the magic cookie".to_owned())
        }
        Ok(Ok(out)) => Ok(format!("exited with {}", out.status)),
    };
    report.check("refuses to run without the host's magic cookie", outcome);
}

async fn run_checks(report: &mut Report, plugin: &PluginProvider, args: &PluginCheckArgs, name: &str) {
    let info = plugin.info();
    report.check(
        "info names the provider",
        if info.name == name { Ok(info.name.clone()) } else { Err(format!("says {:?}", info.name)) },
    );
    report.check("ping", plugin.ping().await.map(|()| String::new()).map_err(|e| e.to_string()));

    let regions = plugin.list_regions().await;
    let types = plugin.list_instance_types().await;
    let images = plugin.list_images().await;
    report.check("regions", count(&regions, "regions"));
    report.check("instance types with prices", count(&types, "types"));
    report.check("images", count(&images, "images"));
    let (Ok(regions), Ok(types), Ok(images)) = (regions, types, images) else { return };

    let chosen_type =
        args.instance_type.clone().or_else(|| types.iter().find(|t| t.available).map(|t| t.id.clone()));
    let chosen_region = args.region.clone().or_else(|| {
        let t = types.iter().find(|t| Some(&t.id) == chosen_type.as_ref())?;
        regions.iter().find(|r| r.available && t.regions.contains(&r.id)).map(|r| r.id.clone())
    });
    let chosen_image = args.image.clone().or_else(|| {
        images
            .iter()
            .find(|i| i.slug.is_some())
            .or(images.first())
            .map(|i| i.slug.clone().unwrap_or(i.id.clone()))
    });
    let (Some(instance_type), Some(region), Some(image)) = (chosen_type, chosen_region, chosen_image) else {
        report.check(
            "a type, region and image that go together",
            Err("none found; pass --type, --region, --image".into()),
        );
        return;
    };
    if let Some(t) = types.iter().find(|t| t.id == instance_type) {
        let policy = plugin.billing_policy(t, time::OffsetDateTime::now_utc()).await;
        report.check("billing policy", policy.map(|p| p.name).map_err(|e| e.to_string()));
    }

    resource_checks(report, plugin).await;

    // Bad input gets the right kinds of failure.
    let missing = InstanceId("nephele-check-no-such-instance-0".to_owned());
    report.check(
        "get of a missing instance",
        expect_kind(plugin.get_instance(&missing).await, ErrorCode::NotFound),
    );
    report.check(
        "power action on a missing instance",
        expect_kind(
            plugin.power_action(&missing, PowerAction::PowerOff, OperationId::new()).await,
            ErrorCode::NotFound,
        ),
    );
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let request = |names: Vec<String>, region: &str, operation_id| CreateInstances {
        operation_id,
        names: names.iter().filter_map(|n| InstanceName::parse(n).ok()).collect(),
        instance_type: instance_type.clone(),
        region: region.to_owned(),
        image: image.clone(),
        ssh_keys: vec![],
        tags: vec![],
        user_data: None,
        backups: false,
        ipv6: false,
        monitoring: false,
        vpc_uuid: None,
    };
    let bad_region = plugin
        .create_instances(&request(vec![format!("check-bad-{suffix}")], "nowhere9", OperationId::new()))
        .await;
    report.check("create in an unknown region", expect_kind(bad_region, ErrorCode::InvalidInput));

    // Exactly once: the same operation id twice makes one instance.
    let operation = OperationId::new();
    let name = format!("nephele-check-{suffix}");
    let first = plugin.create_instances(&request(vec![name.clone()], &region, operation)).await;
    let second = plugin.create_instances(&request(vec![name.clone()], &region, operation)).await;
    let found = plugin.find_instances_by_operation(operation).await;
    let listed =
        plugin.list_instances(&InstanceFilter { name: Some(name.clone()), ..Default::default() }).await;
    let once = match (&first, &second, &found, &listed) {
        (Ok(a), Ok(b), Ok(f), Ok(l)) => {
            let ids = |v: &Vec<nephele_core::Instance>| {
                let mut ids: Vec<String> = v.iter().map(|i| i.id.0.clone()).collect();
                ids.sort();
                ids
            };
            if a.len() != 1 {
                Err(format!("one name made {} instances", a.len()))
            } else if ids(a) != ids(b) || ids(a) != ids(f) || l.len() != 1 {
                Err(format!(
                    "the same operation id made more than one instance: first {:?}, again {:?}, by operation {:?}, {} listed named {name}",
                    ids(a),
                    ids(b),
                    ids(f),
                    l.len()
                ))
            } else {
                Ok(format!("instance {} made once", a[0].id))
            }
        }
        _ => Err(format!(
            "a call failed: {:?}",
            [first.as_ref().err(), second.as_ref().err(), found.as_ref().err(), listed.as_ref().err()]
        )),
    };
    let made = first.ok().and_then(|v| v.into_iter().next());
    if !report.check("create repeated with one operation id makes one instance", once) {
        // Clean up whatever it made, then stop: the rest assumes one instance.
        for extra in found.into_iter().flatten().chain(listed.into_iter().flatten()) {
            let _ = plugin.delete_instance(&extra.id, OperationId::new()).await;
        }
        return;
    }
    let Some(made) = made else { return };
    lifecycle(report, plugin, &made.id, Duration::from_secs(args.timeout)).await;

    // The whole fleet in one list, as the inventory asks for it.
    let asked = Instant::now();
    let all = plugin.list_instances(&InstanceFilter::default()).await;
    report.check(
        "list of every instance",
        match all {
            Ok(all) if all.len() >= args.min_list => {
                Ok(format!("{} instances in {} ms", all.len(), asked.elapsed().as_millis()))
            }
            Ok(all) => Err(format!("{} instances, fewer than --min-list {}", all.len(), args.min_list)),
            Err(e) => Err(e.to_string()),
        },
    );

    // A caller that goes away mid-list: the plugin must carry on serving.
    let _ = tokio::time::timeout(Duration::from_millis(5), plugin.list_instances(&InstanceFilter::default()))
        .await;
    let after = tokio::time::timeout(Duration::from_secs(5), plugin.ping()).await;
    report.check(
        "serves on after a cancelled call",
        match after {
            Ok(Ok(())) => Ok(String::new()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer to ping within 5 s".to_owned()),
        },
    );
}

/// Each resource kind the plugin declares answers its list and a get of a missing one
/// (`not_found`); each kind it does not declare answers `not_supported`; a plugin with any kind
/// hands over a price list.
async fn resource_checks(report: &mut Report, plugin: &PluginProvider) {
    let declared = plugin.info().capabilities;
    let mut any = false;
    for kind in ResourceKind::ALL {
        let capability = kind.capability();
        if declared.iter().any(|c| c == capability) {
            any = true;
            let listed = plugin.list_resources(kind).await;
            let listed = match listed {
                Ok(list) => Ok(format!("{} {}", list.len(), kind.plural())),
                Err(e) => Err(e.to_string()),
            };
            report.check(&format!("{capability}: list"), listed);
            let missing = ResourceId(format!("nephele-check-no-such-{}", kind.as_str().replace('_', "-")));
            report.check(
                &format!("{capability}: get of a missing one"),
                expect_kind(plugin.get_resource(kind, &missing).await, ErrorCode::NotFound),
            );
        } else {
            report.check(
                &format!("{capability}: not declared, so not supported"),
                expect_kind(plugin.list_resources(kind).await, ErrorCode::NotSupported),
            );
        }
    }
    if any {
        let prices = plugin.resource_prices().await;
        report.check("resource prices", count(&prices, "prices"));
    }
}

fn count<T>(list: &Result<Vec<T>, ProviderError>, what: &str) -> Result<String, String> {
    match list {
        Ok(list) if list.is_empty() => Err(format!("no {what}")),
        Ok(list) => Ok(format!("{} {what}", list.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// running -> off -> on -> deleted, each confirmed by reading the instance back.
async fn lifecycle(report: &mut Report, plugin: &PluginProvider, id: &InstanceId, timeout: Duration) {
    if !report.check("instance reaches running", wait_for(plugin, id, InstanceStatus::Running, timeout).await)
    {
        return;
    }
    for (action, status) in
        [(PowerAction::PowerOff, InstanceStatus::Stopped), (PowerAction::PowerOn, InstanceStatus::Running)]
    {
        let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
        let started = plugin.power_action(id, action, OperationId::new()).await;
        let name = format!("{} then the instance is {status}", action.as_str());
        let Ok(started) = started else {
            report.check(&name, Err(format!("{:?}", started.err())));
            return;
        };
        let deadline = Instant::now() + timeout;
        let mut done = started.status == ActionStatus::Completed;
        while !done && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            done =
                matches!(plugin.get_action(&started.id).await, Ok(a) if a.status == ActionStatus::Completed);
        }
        let found = plugin.find_power_action(id, action, since).await;
        report.check(
            &format!("{} is found again by find_power_action", action.as_str()),
            // The same action: by id where the cloud records actions (DigitalOcean); a cloud
            // that keeps none (EC2) answers one of the same kind on the same instance.
            match found {
                Ok(Some(a)) if a.id == started.id => Ok(format!("action {}", a.id)),
                Ok(Some(a)) if a.kind == started.kind && a.instance_id.as_ref() == Some(id) => {
                    Ok(format!("a {} of {id} (the cloud keeps no action record)", a.kind))
                }
                other => Err(format!("expected action {}, got {other:?}", started.id)),
            },
        );
        if !report.check(&name, wait_for(plugin, id, status, timeout).await) {
            return;
        }
    }
    let deleted = plugin.delete_instance(id, OperationId::new()).await;
    report.check("delete", deleted.map(|()| String::new()).map_err(|e| e.to_string()));
    let deadline = Instant::now() + timeout;
    let gone = loop {
        match plugin.get_instance(id).await {
            Err(e) if e.code() == ErrorCode::NotFound => break Ok("not found afterwards".to_owned()),
            // EC2 shows a terminated instance for about an hour.
            Ok(i) if i.status == InstanceStatus::Archived => {
                break Ok(format!("{} afterwards", i.provider_status));
            }
            _ if Instant::now() >= deadline => break Err("still there".to_owned()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    report.check("a deleted instance is gone", gone);
}

async fn wait_for(
    plugin: &PluginProvider,
    id: &InstanceId,
    wanted: InstanceStatus,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match plugin.get_instance(id).await {
            Ok(i) if i.status == wanted => return Ok(String::new()),
            Ok(i) if Instant::now() >= deadline => {
                return Err(format!("still {} after {} s", i.status, timeout.as_secs()));
            }
            Err(e) if Instant::now() >= deadline => return Err(e.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
