//! Assembly: config → sources with their pipelines → running until
//! SIGTERM/SIGINT; and the `self-test` command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::actions::{Action, exec::ExecAction, http::HttpAction, index::Index, mirror::Mirror};
use crate::config::{self, ActionConfig, AgentConfig, Flavor, SourceConfig};
use crate::credentials::{self, AwsAccess, Explicit, ProfileFiles};
use crate::pipeline::{KeyLocks, Pipeline, Stats};
use crate::self_test::{self, SelfTestWatch, Step, Steps};
use crate::sources::{sqs::SqsSource, webhook};
use crate::{fields, log, report};

struct Built {
    cfg: SourceConfig,
    pipeline: Arc<Pipeline>,
    sqs: Option<Arc<SqsSource>>,
    s3: Option<aws_sdk_s3::Client>,
}

fn files(cfg: &AgentConfig) -> ProfileFiles {
    ProfileFiles::new(cfg.aws_credentials_file.as_deref(), cfg.aws_config_file.as_deref())
}

fn source_access(src: &SourceConfig, files: &ProfileFiles, s3: bool) -> Result<AwsAccess, String> {
    let (who, profiles) = if s3 {
        (
            "S3 access",
            vec![src.aws_profile.as_deref(), src.sqs_profile.as_deref()],
        )
    } else {
        (
            "SQS access",
            vec![src.sqs_profile.as_deref(), src.aws_profile.as_deref()],
        )
    };
    credentials::resolve(
        &format!("source '{}' ({who})", src.name),
        &Explicit {
            access_key: src.aws_access_key_id.as_deref(),
            secret_key: src.aws_secret_access_key.as_deref(),
            session_token: src.aws_session_token.as_deref(),
            region: src.aws_region.as_deref(),
            profiles,
        },
        files,
    )
}

fn build(
    cfg: &AgentConfig,
    src: &SourceConfig,
    files: &ProfileFiles,
    indexes: &mut HashMap<PathBuf, Arc<Index>>,
    watch: &Arc<SelfTestWatch>,
    self_test_only: bool,
) -> Result<Built, String> {
    // The queue first: its access is what most sources are about.
    let sqs = match src.flavor {
        Flavor::Sqs => {
            let a = source_access(src, files, false)?;
            Some(Arc::new(SqsSource {
                client: credentials::sqs_client(&a, src.sqs_endpoint_url.as_deref()),
                cfg: src.clone(),
            }))
        }
        Flavor::Webhook => None,
    };
    let has_mirror = src.actions.iter().any(|a| matches!(a, ActionConfig::Mirror(_)));
    let needs_s3 = has_mirror || src.self_test_enabled || cfg.upload_folder.is_some() || self_test_only;
    let s3_access = if needs_s3 {
        Some(source_access(src, files, true)?)
    } else {
        None
    };
    let s3 = s3_access
        .as_ref()
        .map(|a| credentials::s3_client(a, src.aws_endpoint_url.as_deref()));
    let mut actions = Vec::new();
    if !self_test_only {
        for (i, a) in src.actions.iter().enumerate() {
            let who = format!("source '{}' action {i} ({})", src.name, a.kind());
            actions.push(match a {
                ActionConfig::Index { path } => {
                    let idx = match indexes.get(path) {
                        Some(i) => i.clone(),
                        None => {
                            let i = Arc::new(Index::open(path).map_err(|e| format!("{who}: {e}"))?);
                            indexes.insert(path.clone(), i.clone());
                            i
                        }
                    };
                    Action::Index(idx)
                }
                ActionConfig::Mirror(m) => {
                    let region = m
                        .aws_region
                        .clone()
                        .or_else(|| s3_access.as_ref().map(|a| a.region.clone()));
                    let target = credentials::resolve(
                        &who,
                        &Explicit {
                            access_key: m.aws_access_key_id.as_deref(),
                            secret_key: m.aws_secret_access_key.as_deref(),
                            session_token: None,
                            region: region.as_deref(),
                            profiles: vec![m.aws_profile.as_deref()],
                        },
                        files,
                    )?;
                    Action::Mirror(Mirror {
                        source: s3.clone().ok_or_else(|| format!("{who}: no S3 access to the source"))?,
                        target: credentials::s3_client(&target, m.endpoint_url.as_deref()),
                        cfg: m.clone(),
                    })
                }
                ActionConfig::Http {
                    url,
                    login,
                    password,
                    retries,
                    timeout_seconds,
                } => Action::Http(Box::new(
                    HttpAction::new(
                        url,
                        login.as_deref(),
                        password.as_deref(),
                        *retries,
                        Duration::from_secs(*timeout_seconds),
                    )
                    .map_err(|e| format!("{who}: {e}"))?,
                )),
                ActionConfig::Exec {
                    command,
                    timeout_seconds,
                } => {
                    if !command.exists() {
                        return Err(format!("{who}: command {} does not exist", command.display()));
                    }
                    Action::Exec(ExecAction {
                        command: command.clone(),
                        timeout: Duration::from_secs(*timeout_seconds),
                    })
                }
            });
        }
    }
    let pipeline = Arc::new(Pipeline {
        source: src.name.clone(),
        provider: src.provider.clone(),
        skip_principal: src.skip_principal_id.clone(),
        actions,
        stats: Arc::new(Stats::default()),
        self_test: watch.clone(),
        self_test_only,
        locks: KeyLocks::new(1024),
    });
    Ok(Built {
        cfg: src.clone(),
        pipeline,
        sqs,
        s3,
    })
}

fn load(path: &Path, listen: Option<&str>) -> anyhow::Result<AgentConfig> {
    let mut cfg = config::load(path)?;
    if let Some(l) = listen {
        let mut hooks: Vec<_> = cfg.sources.iter_mut().filter(|s| s.flavor == Flavor::Webhook).collect();
        match hooks.as_mut_slice() {
            [one] => {
                one.listen = Some(l.to_string());
                if let Err(why) = config::check_webhook_exposure(one) {
                    anyhow::bail!(
                        "--listen {l}: {}: source '{}': {}: {}",
                        path.display(),
                        one.name,
                        why.key,
                        why.reason
                    );
                }
            }
            [] => anyhow::bail!("--listen: {} has no webhook source", path.display()),
            _ => anyhow::bail!(
                "--listen: {} has several webhook sources; set `listen` in each",
                path.display()
            ),
        }
    }
    Ok(cfg)
}

fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        log::info("shutting down: finishing the messages in hand", fields! {});
        let _ = tx.send(true);
    });
    rx
}

pub async fn run_agent(path: &Path, listen: Option<&str>) -> anyhow::Result<()> {
    let cfg = load(path, listen)?;
    let files = files(&cfg);
    let watch = Arc::new(SelfTestWatch::default());
    let mut indexes = HashMap::new();
    let mut built = Vec::new();
    for src in &cfg.sources {
        built.push(build(&cfg, src, &files, &mut indexes, &watch, false).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    let shutdown = shutdown_signal();
    let mut handles = Vec::new();
    for b in &built {
        match &b.sqs {
            Some(sqs) => handles.push(tokio::spawn(sqs.clone().run(b.pipeline.clone(), shutdown.clone()))),
            None => handles.push(webhook::start(b.cfg.clone(), b.pipeline.clone(), shutdown.clone()).await?),
        }
    }
    for b in built.iter().filter(|b| b.cfg.self_test_enabled) {
        let (cfg, s3, watch) = (b.cfg.clone(), b.s3.clone(), watch.clone());
        tokio::spawn(async move {
            let Some(s3) = s3 else { return };
            let endpoint = cfg.aws_endpoint_url.clone().unwrap_or_else(|| "AWS S3".into());
            let folder = cfg.self_test_folder.clone().unwrap_or_default();
            let timeout = Duration::from_secs(cfg.self_test_timeout_seconds);
            let name = cfg.name.clone();
            let on_step = move |s: &Step| {
                let f = fields! {"source" => name, "step" => s.name, "ok" => s.ok, "millis" => s.millis as u64};
                if s.ok {
                    log::info(&format!("self test '{name}': {s}"), f);
                } else {
                    log::error(&format!("self test '{name}': {s}"), f);
                }
            };
            let mut steps = Steps {
                all: Vec::new(),
                on_step: &on_step,
            };
            self_test::object_round_trip(&cfg.name, &folder, &endpoint, &s3, &watch, timeout, &mut steps).await;
            let ok = steps.ok();
            log::info(
                &format!("self test '{}': {}", cfg.name, if ok { "passed" } else { "FAILED" }),
                fields! {"source" => cfg.name, "ok" => ok},
            );
        });
    }
    let started = time::OffsetDateTime::now_utc();
    let reports = cfg.upload_folder.clone().map(|folder| {
        let targets: Arc<Vec<report::ReportTarget>> = Arc::new(
            built
                .iter()
                .filter_map(|b| {
                    b.s3.clone().map(|s3| report::ReportTarget {
                        source: b.cfg.name.clone(),
                        s3,
                        stats: b.pipeline.stats.clone(),
                    })
                })
                .collect(),
        );
        let interval = Duration::from_secs(cfg.report_interval_seconds);
        tokio::spawn(report::run(
            targets.clone(),
            folder.clone(),
            started,
            interval,
            shutdown.clone(),
        ));
        (targets, folder)
    });
    log::info(
        &format!(
            "herald agent started with {} source(s) from {}",
            built.len(),
            path.display()
        ),
        fields! {"sources" => built.iter().map(|b| b.cfg.name.clone()).collect::<Vec<_>>()},
    );
    for h in handles {
        let _ = h.await;
    }
    if let Some((targets, folder)) = reports {
        report::write_all(&targets, &folder, started, true).await;
    }
    for b in &built {
        log::info(
            &format!("source '{}': totals", b.cfg.name),
            fields! {"source" => b.cfg.name, "counts" => b.pipeline.stats.snapshot()},
        );
    }
    Ok(())
}

/// `herald agent self-test`: prints one line per step; fails if any step did.
pub async fn self_test_cli(path: &Path, only: Option<&str>) -> anyhow::Result<()> {
    let cfg = load(path, None)?;
    let files = files(&cfg);
    let watch = Arc::new(SelfTestWatch::default());
    let mut all_ok = true;
    let mut ran = 0;
    for src in cfg.sources.iter().filter(|s| only.is_none_or(|o| o == s.name)) {
        ran += 1;
        println!("self test of source '{}':", src.name);
        let print = |s: &Step| println!("  {s}");
        let mut steps = Steps {
            all: Vec::new(),
            on_step: &print,
        };
        run_one(&cfg, src, &files, &watch, &mut steps).await;
        let ok = steps.ok();
        println!("  => {}", if ok { "PASSED" } else { "FAILED" });
        all_ok &= ok;
    }
    if ran == 0 {
        anyhow::bail!("{}: no source named {:?}", path.display(), only.unwrap_or(""));
    }
    if all_ok {
        Ok(())
    } else {
        anyhow::bail!("self test failed (see the FAIL lines above)")
    }
}

async fn run_one(
    cfg: &AgentConfig,
    src: &SourceConfig,
    files: &ProfileFiles,
    watch: &Arc<SelfTestWatch>,
    steps: &mut Steps<'_>,
) {
    let t = Instant::now();
    let Some(folder) = src.self_test_folder.clone() else {
        steps.push(self_test::step(
            "configuration",
            t,
            Err("self_test_folder is not set: give a `bucket/prefix` the test may write into".into()),
        ));
        return;
    };
    let built = match build(cfg, src, files, &mut HashMap::new(), watch, true) {
        Ok(b) => b,
        Err(e) => {
            steps.push(self_test::step("configuration: credentials and region", t, Err(e)));
            return;
        }
    };
    steps.push(self_test::step(
        "configuration: credentials and region",
        t,
        Ok(String::new()),
    ));
    let Some(s3) = built.s3.clone() else { return };
    let (stop_tx, stop_rx) = watch::channel(false);
    let t = Instant::now();
    let consumer = match &built.sqs {
        Some(sqs) => {
            match sqs.queue_url().await {
                Ok(u) => steps.push(self_test::step(
                    "sqs: queue reachable",
                    t,
                    Ok(format!("{u} via {}", sqs.endpoint())),
                )),
                Err(e) => {
                    steps.push(self_test::step("sqs: queue reachable", t, Err(e)));
                    return;
                }
            }
            tokio::spawn(sqs.clone().run(built.pipeline.clone(), stop_rx))
        }
        None => match webhook::start(src.clone(), built.pipeline.clone(), stop_rx).await {
            Ok(h) => {
                let at = src.listen.clone().unwrap_or_default();
                steps.push(self_test::step(
                    "webhook: listening",
                    t,
                    Ok(format!("http://{at}/webhook")),
                ));
                h
            }
            Err(e) => {
                steps.push(self_test::step(
                    "webhook: listening",
                    t,
                    Err(format!(
                        "{e}: if the agent is running on this address, stop it for the self test \
                         or set self_test_enabled and read its log"
                    )),
                ));
                return;
            }
        },
    };
    let endpoint = src.aws_endpoint_url.clone().unwrap_or_else(|| "AWS S3".into());
    let timeout = Duration::from_secs(src.self_test_timeout_seconds);
    self_test::object_round_trip(&src.name, &folder, &endpoint, &s3, watch, timeout, steps).await;
    let _ = stop_tx.send(true);
    let _ = consumer.await;
}
