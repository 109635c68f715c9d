//! `analytics-ctl`: the operator's command line.

use analytics_config::PostgresSettings;
use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;

mod simulate;

#[derive(Parser)]
#[command(name = "analytics-ctl", version, about = "Operate the analytics pipeline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Manage tracked sites.
    Site {
        #[command(subcommand)]
        command: SiteCommand,
    },
    /// Send realistic traffic to ingest, or write a history of rollups (demos, benchmarks).
    Simulate(simulate::Args),
    /// Bring history from another system into a site's rollups.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Goals: a custom event or a page whose conversions
    /// `GET /api/analytics/goals/` counts (from the kept events).
    Goal {
        #[command(subcommand)]
        command: GoalCommand,
    },
    /// Saved funnels: named steps the panel shows, counted by
    /// `GET /api/analytics/funnel/?name=` (from the kept events).
    Funnel {
        #[command(subcommand)]
        command: FunnelCommand,
    },
    /// Compute a site's rollups of some local days again from the kept
    /// events, one day per transaction, while events keep arriving; prints
    /// [{day, events}] (the kept events each day was rebuilt from).
    Rebuild {
        /// The site's id or domain.
        #[arg(long)]
        site: String,
        /// The first local day (YYYY-MM-DD).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// The last local day, included.
        #[arg(long)]
        to: chrono::NaiveDate,
    },
}

#[derive(Subcommand)]
enum FunnelCommand {
    /// Save a funnel (a funnel of that name gets these steps); prints it as JSON.
    Add {
        /// The site's id or domain.
        #[arg(long)]
        site: String,
        /// Its name, as the panel shows it (at most 100 characters).
        #[arg(long)]
        name: String,
        /// 2 to 8 steps, in order: page==<path> (a prefix when it ends in *) or event==<name>.
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
    },
    /// List a site's saved funnels as JSON.
    List {
        /// The site's id or domain.
        #[arg(long)]
        site: String,
    },
    /// Delete a saved funnel; prints {"deleted": true|false}.
    Delete {
        /// The site's id or domain.
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum GoalCommand {
    /// Add a goal (again: nothing changes); prints it as JSON.
    Add(GoalTarget),
    /// List a site's goals as JSON.
    List {
        /// The site's id or domain.
        #[arg(long)]
        site: String,
    },
    /// Delete a goal; prints {"deleted": true|false}.
    Delete(GoalTarget),
}

/// A goal of a site: a custom event's name, or a page.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("goal").required(true).args(["event", "page"])))]
struct GoalTarget {
    /// The site's id or domain.
    #[arg(long)]
    site: String,
    /// A custom event's name.
    #[arg(long)]
    event: Option<String>,
    /// A page: a path, or a prefix ending in * (quote it in a shell).
    #[arg(long)]
    page: Option<String>,
}

impl GoalCommand {
    /// The site it is about (its id or domain).
    fn site(&self) -> &str {
        match self {
            GoalCommand::Add(target) | GoalCommand::Delete(target) => &target.site,
            GoalCommand::List { site } => site,
        }
    }
}

impl GoalTarget {
    fn kind_and_target(&self) -> (analytics_store::goals::GoalKind, &str) {
        use analytics_store::goals::GoalKind;
        match (&self.event, &self.page) {
            (Some(event), _) => (GoalKind::Event, event),
            (None, page) => (GoalKind::Page, page.as_deref().unwrap_or_default()),
        }
    }
}

#[derive(Subcommand)]
enum ImportCommand {
    /// The Visit table of the old Django middleware. Safe to repeat and to
    /// interrupt: a run resumes after the last row an earlier one applied.
    Django {
        /// Postgres URL of the Django database (read only).
        #[arg(long)]
        database_url: String,
        /// The Visit model's table.
        #[arg(long, default_value = "analytics_visit")]
        table: String,
        #[command(flatten)]
        into: ImportInto,
    },
    /// One website's events from Umami's Postgres database. Safe to repeat
    /// and to interrupt, like `django`.
    Umami {
        /// Postgres URL of Umami's database (read only).
        #[arg(long)]
        database_url: String,
        /// The Umami website id whose events to import.
        #[arg(long)]
        website: String,
        #[command(flatten)]
        into: ImportInto,
    },
    /// Plausible's CSV export (a zip of daily figures per table). Whole
    /// days are applied once: a run goes on after the last day an earlier
    /// one applied, so a later export adds only its new days.
    Plausible {
        /// The export's zip file.
        #[arg(long)]
        zip: std::path::PathBuf,
        #[command(flatten)]
        into: ImportInto,
    },
}

/// Where an import goes and how much of it a run does.
#[derive(clap::Args)]
struct ImportInto {
    /// The site's id or domain.
    #[arg(long)]
    site: String,
    /// Print the rows still to import per month, and import nothing.
    #[arg(long)]
    dry_run: bool,
    /// Stop after this many rows; the next run goes on from there.
    #[arg(long)]
    max_rows: Option<i64>,
}

#[derive(Subcommand)]
enum SiteCommand {
    /// Create a site; prints {id, domain, timezone, api_token} as JSON.
    Add {
        #[arg(long)]
        domain: String,
        /// IANA time zone the site's days are counted in.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// List sites as JSON.
    List,
    /// Change what ingest counts for a site; prints the site as JSON.
    Set {
        /// The site's id or domain.
        site: String,
        /// Hostnames whose pages count, with their subdomains, comma-separated;
        /// "" allows any hostname.
        #[arg(long, value_delimiter = ',')]
        hostnames: Option<Vec<String>>,
        /// Path prefixes never counted, comma-separated; "" excludes nothing.
        #[arg(long, value_delimiter = ',')]
        excluded_paths: Option<Vec<String>>,
        /// Count signed-in users too (true), or only guests (false).
        #[arg(long)]
        count_authenticated: Option<bool>,
        /// A visit ends after this many minutes without an event (1-1440).
        #[arg(long)]
        visit_gap_minutes: Option<i32>,
    },
}

#[derive(Deserialize)]
struct Settings {
    postgres: PostgresSettings,
    import: analytics_aggregator::import::ImportSettings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let cli = Cli::parse();
    let settings: Settings = analytics_config::load("ctl", include_str!("defaults.toml"))?;
    match cli.command {
        Command::Migrate => {
            let applied = analytics_store::migrate(settings.postgres.url()).await?;
            println!("{}", serde_json::json!({ "applied": applied }));
        }
        Command::Site { command: SiteCommand::Add { domain, timezone } } => {
            let client = analytics_store::connect(settings.postgres.url()).await?;
            let (site, token) = analytics_store::sites::add_site(&client, &domain, &timezone).await?;
            println!(
                "{}",
                serde_json::json!({
                    "id": site.id, "domain": site.domain, "timezone": site.timezone.name(), "api_token": token,
                })
            );
        }
        Command::Site { command: SiteCommand::List } => {
            let client = analytics_store::connect(settings.postgres.url()).await?;
            let sites = analytics_store::sites::list_sites(&client).await.context("listing sites")?;
            println!("{}", serde_json::to_string_pretty(&sites)?);
        }
        Command::Site {
            command: SiteCommand::Set { site, hostnames, excluded_paths, count_authenticated, visit_gap_minutes },
        } => {
            let client = analytics_store::connect(settings.postgres.url()).await?;
            // `--hostnames ""` parses as one empty item: it means none.
            let non_empty = |items: Vec<String>| items.into_iter().filter(|i| !i.trim().is_empty()).collect();
            let update = analytics_store::sites::RulesUpdate {
                hostnames: hostnames.map(non_empty),
                excluded_paths: excluded_paths.map(non_empty),
                count_authenticated,
                visit_gap_minutes,
            };
            let site = analytics_store::sites::update_rules(&client, &site, update).await?;
            println!("{}", serde_json::to_string_pretty(&site)?);
        }
        Command::Simulate(args) => simulate::run(args, &settings.postgres).await?,
        Command::Import { command } => import(command, &settings).await?,
        Command::Goal { command } => goal(command, &settings.postgres).await?,
        Command::Funnel { command } => funnel(command, &settings.postgres).await?,
        Command::Rebuild { site, from, to } => {
            let mut client = analytics_store::connect(settings.postgres.url()).await?;
            let days = analytics_aggregator::rebuild::run(&mut client, &settings.import, &site, from, to).await?;
            println!("{}", serde_json::to_string_pretty(&days)?);
        }
    }
    Ok(())
}

/// Runs a `goal` command; prints its answer as JSON.
async fn goal(command: GoalCommand, postgres: &PostgresSettings) -> anyhow::Result<()> {
    use analytics_store::goals;
    let mut client = analytics_store::connect(postgres.url()).await?;
    let site = analytics_store::sites::site_argument(&client, command.site()).await?.id;
    let output = match command {
        GoalCommand::Add(target) => {
            let (kind, what) = target.kind_and_target();
            serde_json::to_value(goals::add(&mut client, site, kind, what).await?)?
        }
        GoalCommand::List { .. } => serde_json::to_value(goals::list(&client, site).await?)?,
        GoalCommand::Delete(target) => {
            let (kind, what) = target.kind_and_target();
            serde_json::json!({ "deleted": goals::delete(&mut client, site, kind, what).await? })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Runs a `funnel` command; prints its answer as JSON.
async fn funnel(command: FunnelCommand, postgres: &PostgresSettings) -> anyhow::Result<()> {
    use analytics_store::{funnels, sites::site_argument};
    let client = analytics_store::connect(postgres.url()).await?;
    let output = match command {
        FunnelCommand::Add { site, name, steps } => {
            let site = site_argument(&client, &site).await?;
            serde_json::to_value(funnels::save(&client, site.id, &name, &steps).await?)?
        }
        FunnelCommand::List { site } => {
            serde_json::to_value(funnels::list(&client, site_argument(&client, &site).await?.id).await?)?
        }
        FunnelCommand::Delete { site, name } => {
            let site = site_argument(&client, &site).await?;
            serde_json::json!({ "deleted": funnels::delete(&client, site.id, &name).await? })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Runs an `import` command; prints its summary (or, with `--dry-run`, the
/// rows still to import per month) as JSON.
async fn import(command: ImportCommand, settings: &Settings) -> anyhow::Result<()> {
    use analytics_aggregator::import::{Importer, django, plausible, umami};
    let importer = Importer::new(&settings.postgres, &settings.import).await?;
    let output = match command {
        ImportCommand::Django { database_url, table, into: ImportInto { site, dry_run, max_rows } } => {
            let args = django::Args { database_url, table, site, max_rows };
            match dry_run {
                true => serde_json::to_value(django::dry_run(&importer, &args).await?)?,
                false => serde_json::to_value(django::run(&importer, &args).await?)?,
            }
        }
        ImportCommand::Umami { database_url, website, into: ImportInto { site, dry_run, max_rows } } => {
            let args = umami::Args { database_url, website, site, max_rows };
            match dry_run {
                true => serde_json::to_value(umami::dry_run(&importer, &args).await?)?,
                false => serde_json::to_value(umami::run(&importer, &args).await?)?,
            }
        }
        ImportCommand::Plausible { zip, into: ImportInto { site, dry_run, max_rows } } => {
            let args = plausible::Args { zip, site, max_rows };
            match dry_run {
                true => serde_json::to_value(plausible::dry_run(&importer, &args).await?)?,
                false => serde_json::to_value(plausible::run(&importer, &args).await?)?,
            }
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
