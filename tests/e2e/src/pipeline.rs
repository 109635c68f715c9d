use analytics_telemetry::Shutdown;
use analytics_testkit::{
    InProcess, Namespace, PANEL_ORIGIN, ServiceProcess, Stores, TEST_ADMIN_TOKEN, TEST_INGEST_KEY, any_port, settings,
};
use secrecy::SecretString;

/// The whole pipeline in this process, in its own namespace, with one site.
pub struct Pipeline {
    pub namespace: Namespace,
    pub ingest_url: String,
    pub query_url: String,
    /// Ingest's and query's `/metrics`, `/healthz` and `/readyz`.
    pub ingest_ops_url: String,
    pub query_ops_url: String,
    pub forwarder_ops_url: String,
    pub aggregator_ops_url: String,
    pub site_id: String,
    pub token: String,
    pub ingest_key: String,
    pub http: reqwest::Client,
    /// The forwarders run as child processes ([`Instances::Processes`]).
    pub forwarder_processes: Vec<ServiceProcess>,
    /// The aggregators run as child processes ([`Instances::Processes`]).
    pub aggregator_processes: Vec<ServiceProcess>,
    /// Ingest as a child process ([`Instances::Processes`]).
    pub ingest_processes: Vec<ServiceProcess>,
    /// Query as a child process ([`Instances::Processes`]).
    pub query_processes: Vec<ServiceProcess>,
    in_process: InProcess,
}

/// Where a service runs: in this process, or as `n` child processes that a
/// test can kill -9.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Instances {
    InProcess,
    Processes(usize),
}

pub struct PipelineOptions {
    pub timezone: &'static str,
    /// Stores to use; the shared test stores when `None`.
    pub stores: Option<&'static Stores>,
    /// `Processes(1)` for a test that kills ingest (more are not supported).
    pub ingest: Instances,
    pub forwarders: Instances,
    pub aggregators: Instances,
    /// `Processes(1)` for a benchmark that measures its memory (more are not supported).
    pub query: Instances,
    pub heartbeat_ttl_ms: u64,
    /// Query cache TTL for answers covering today; 0 (the default in tests)
    /// so that polling tests see every commit at once.
    pub query_cache_live_seconds: u64,
    /// Ingest's `trusted_proxies`: whose X-Forwarded-For it believes.
    pub trusted_proxies: &'static str,
    /// Settings of every service, as `ANALYTICS__SECTION__KEY` variables
    /// would give them (each service reads its own sections).
    pub overrides: Vec<(String, String)>,
    /// The services reach every store over TLS (the test's own checks do not).
    pub tls: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            timezone: "UTC",
            stores: None,
            ingest: Instances::InProcess,
            forwarders: Instances::InProcess,
            aggregators: Instances::InProcess,
            query: Instances::InProcess,
            heartbeat_ttl_ms: 15_000,
            query_cache_live_seconds: 0,
            trusted_proxies: "",
            overrides: Vec::new(),
            tls: false,
        }
    }
}

impl Pipeline {
    /// Starts ingest, forwarder, aggregator and query on free ports and
    /// creates a site in `timezone`.
    pub async fn start(timezone: &'static str) -> Self {
        Self::start_with(PipelineOptions { timezone, ..Default::default() }).await
    }

    pub async fn start_with(mut options: PipelineOptions) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            analytics_telemetry::init_tracing("test");
        }
        // The child processes get what in-process services get from `settings`.
        options.overrides.splice(0..0, analytics_testkit::rate_limits_off());
        let timezone = options.timezone;
        let namespace = match options.stores {
            Some(stores) => Namespace::create_in(stores).await,
            None => Namespace::create().await,
        };
        // What the services are given: the same namespace, over TLS if asked.
        let services = match options.tls {
            true => {
                let stores = match options.stores {
                    Some(stores) => stores,
                    None => analytics_testkit::stores().await,
                };
                namespace.over_tls(stores.tls.as_ref().expect("the stores offer TLS (stores.sh up)"))
            }
            false => namespace.clone(),
        };
        let (site_id, token) = namespace.add_site(&format!("{}.example", namespace.name), timezone).await;

        let mut start =
            Start { options: &options, namespace: &namespace, services: &services, in_process: InProcess::new() };
        let (ingest_url, ingest_ops_url, ingest_processes) = start.ingest().await;
        let (forwarder_ops_url, forwarder_processes) = start.forwarders().await;
        let (aggregator_ops_url, aggregator_processes) = start.aggregators().await;
        let (query_url, query_ops_url, query_processes) = start.query().await;
        let in_process = start.in_process;
        let processes = ingest_processes.iter().chain(&forwarder_processes).chain(&aggregator_processes);
        for process in processes.chain(&query_processes) {
            process.wait_ready().await;
        }
        Self {
            namespace,
            ingest_url,
            query_url,
            ingest_ops_url,
            query_ops_url,
            forwarder_ops_url,
            aggregator_ops_url,
            site_id,
            token,
            ingest_key: TEST_INGEST_KEY.to_owned(),
            http: analytics_testkit::browser(),
            forwarder_processes,
            aggregator_processes,
            ingest_processes,
            query_processes,
            in_process,
        }
    }

    /// `POST /v1/events` with `events`, server-side (with the ingest key) or not.
    pub async fn send(&self, events: serde_json::Value, server_side: bool) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/v1/events", self.ingest_url)).json(&events);
        if server_side {
            request = request.header("X-Ingest-Key", &self.ingest_key);
        }
        request.send().await.expect("ingest reachable")
    }

    /// A cloneable handle that sends pageviews, for load running beside a fault.
    pub fn sender(&self) -> Sender {
        Sender { http: self.http.clone(), url: format!("{}/v1/events", self.ingest_url), site_id: self.site_id.clone() }
    }

    /// Waits until exactly `expected` pageviews are counted and nothing is left
    /// anywhere that could still change that: the Redis list and every
    /// in-flight set are empty, the aggregate queue has no ready message, and
    /// the applied batches hold exactly `expected` events, and the visits hold
    /// exactly `expected` pageviews (every counted pageview in exactly one
    /// visit, so the per-visitor state was changed once per event too).
    /// Panics on more, or when nothing has moved for 90 s.
    pub async fn assert_exactly(&self, expected: i64, forwarder_instances: &[String]) {
        let own = Expect { site: self.site_id.clone(), token: self.token.clone(), pageviews: expected, events: 0 };
        self.assert_counted(&[own], expected, forwarder_instances).await;
    }

    /// [`Self::assert_exactly`] for several sites: each of `sites` has exactly
    /// its pageviews and custom events counted, the applied batches hold
    /// `applied_events` events in all (counted or dropped by the aggregator),
    /// the visits hold every site's pageviews, and every queue is drained.
    pub async fn assert_counted(&self, sites: &[Expect], applied_events: i64, forwarder_instances: &[String]) {
        let redis = self.namespace.redis().await;
        let db = self.namespace.db().await;
        let amqp = analytics_store::amqp::amqp_connect(&self.namespace.amqp, "test-observer").await.expect("amqp");
        let all_pageviews: i64 = sites.iter().map(|s| s.pageviews).sum();
        // A drain that still moves may take its time (the overload benchmark
        // leaves millions of events); one that stopped fails after 90 s.
        let patience = std::time::Duration::from_secs(90);
        let mut deadline = std::time::Instant::now() + patience;
        let mut previous = String::new();
        loop {
            let mut counted = Vec::new();
            for site in sites {
                // A site created a moment ago may not be known to the query service yet.
                let overview = self.try_overview_of(&site.site, &site.token).await.unwrap_or_default();
                let total = &overview["total"];
                let (pageviews, events) =
                    (total["pageviews"].as_i64().unwrap_or(-1), total["events"].as_i64().unwrap_or(-1));
                assert!(
                    pageviews <= site.pageviews && events <= site.events,
                    "site {}: counted {pageviews} pageviews and {events} events, more than the {} and {} accepted",
                    site.site,
                    site.pageviews,
                    site.events
                );
                counted.push((pageviews, events));
            }
            let queued: i64 = redis::cmd("LLEN")
                .arg(self.namespace.redis.queue_key())
                .query_async(&mut redis.clone())
                .await
                .unwrap_or(-1);
            let mut inflight = 0i64;
            for instance in forwarder_instances {
                let key = self.namespace.redis.inflight_key(instance);
                inflight += redis::cmd("SCARD").arg(key).query_async::<i64>(&mut redis.clone()).await.unwrap_or(-1);
                let key = self.namespace.redis.claiming_key(instance);
                inflight += redis::cmd("LLEN").arg(key).query_async::<i64>(&mut redis.clone()).await.unwrap_or(-1);
            }
            let ready = match amqp.create_channel().await {
                Ok(channel) => {
                    analytics_store::amqp::queue_depth(&channel, &self.namespace.amqp, &self.namespace.amqp.queue())
                        .await
                        .map(i64::from)
                        .unwrap_or(-1)
                }
                Err(_) => -1,
            };
            let applied: i64 =
                match db.query_one("SELECT coalesce(sum(event_count), 0)::int8 FROM processed_batches", &[]).await {
                    Ok(row) => row.get(0),
                    Err(_) => -1,
                };
            let in_visits: i64 =
                match db.query_one("SELECT coalesce(sum(pageviews), 0)::int8 FROM daily_visits", &[]).await {
                    Ok(row) => row.get(0),
                    Err(_) => -1,
                };
            assert!(
                in_visits <= all_pageviews,
                "{in_visits} pageviews in visits, more than the {all_pageviews} accepted"
            );
            let all_counted = sites.iter().zip(&counted).all(|(site, c)| *c == (site.pageviews, site.events));
            if all_counted
                && queued == 0
                && inflight == 0
                && ready == 0
                && applied == applied_events
                && in_visits == all_pageviews
            {
                return;
            }
            let last = format!(
                "counted (pageviews, events) {counted:?}, redis list {queued}, in-flight batches and claiming events {inflight}, aggregate queue {ready}, applied events {applied}, pageviews in visits {in_visits}"
            );
            if last != previous {
                deadline = std::time::Instant::now() + patience;
                previous = last.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected exactly {sites:?} counted and {applied_events} events applied, with queues drained; last seen: {last}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Creates another site in this pipeline's database; returns its id and token.
    pub async fn add_site(&self, domain: &str) -> (String, String) {
        self.namespace.add_site(domain, "UTC").await
    }

    /// Publishes raw bytes to the pipeline's exchange ([`Namespace::publish`]).
    pub async fn publish(&self, payload: &[u8]) {
        self.namespace.publish(payload).await
    }

    /// Forwarder instance ids of this pipeline, for [`Self::assert_exactly`].
    pub fn forwarder_instances(&self) -> Vec<String> {
        match self.forwarder_processes.len() {
            0 => vec![format!("{}-forwarder", self.namespace.name)],
            n => (0..n).map(|i| format!("{}-forwarder-{i}", self.namespace.name)).collect(),
        }
    }

    /// `GET /api/analytics/<path_and_query>` of the query service with the site's token.
    pub async fn query(&self, path_and_query: &str) -> reqwest::Response {
        let url = format!("{}/api/analytics/{path_and_query}", self.query_url);
        self.http.get(url).bearer_auth(&self.token).send().await.expect("query reachable")
    }

    /// The overview JSON for this pipeline's site, with its token.
    pub async fn overview(&self) -> serde_json::Value {
        self.try_overview_of(&self.site_id, &self.token).await.expect("the overview answered 200")
    }

    /// The overview JSON of `site`, read with `token`; `None` unless answered 200.
    pub async fn try_overview_of(&self, site: &str, token: &str) -> Option<serde_json::Value> {
        let url = format!("{}/api/analytics/overview/?site={site}", self.query_url);
        // Fresh figures, whatever the cache holds.
        let response = self.http.get(url).bearer_auth(token).header("X-Skip-Cache", "1").send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// Waits until the metric `series` at `ops_url` reaches at least `min`.
    pub async fn wait_for_metric(&self, ops_url: &str, series: &str, min: f64) {
        analytics_testkit::eventually(&format!("{series} >= {min}"), std::time::Duration::from_secs(30), || async {
            (self.metric(ops_url, series).await >= min).then_some(())
        })
        .await;
    }

    /// The sum of every series of the metric `name`, whatever their labels.
    pub async fn metric_sum(&self, ops_url: &str, name: &str) -> f64 {
        analytics_testkit::metric_sum(&self.http, ops_url, name).await
    }

    /// The value of a metric series (`name{labels}` exactly as exposed), 0 if absent.
    pub async fn metric(&self, ops_url: &str, series: &str) -> f64 {
        analytics_testkit::metric(&self.http, ops_url, series).await
    }

    /// The services running as child processes, by service name.
    pub fn service_processes(&self) -> Vec<(&'static str, &ServiceProcess)> {
        let services = [
            ("ingest", &self.ingest_processes),
            ("forwarder", &self.forwarder_processes),
            ("aggregator", &self.aggregator_processes),
            ("query", &self.query_processes),
        ];
        services.into_iter().flat_map(|(name, processes)| processes.iter().map(move |p| (name, p))).collect()
    }

    /// What the child processes last logged, for a test that fails waiting on them.
    pub fn log_tails(&self, lines: usize) -> String {
        let processes = self.service_processes().into_iter().map(|(_, process)| process.log_tail(lines));
        processes.collect::<Vec<_>>().join("\n")
    }

    /// Stops every service gracefully and checks each exited cleanly.
    pub async fn stop(self) {
        self.in_process.stop().await
    }
}

/// Starts each service of a [`Pipeline`] as its options say: in this
/// process, or as child processes.
struct Start<'a> {
    options: &'a PipelineOptions,
    namespace: &'a Namespace,
    /// The namespace as the services reach it (over TLS if asked).
    services: &'a Namespace,
    in_process: InProcess,
}

impl Start<'_> {
    /// Ingest's public and ops URLs, and its process if it runs as one.
    async fn ingest(&mut self) -> (String, String, Vec<ServiceProcess>) {
        let mut processes = Vec::new();
        let (url, ops_url) = match self.options.ingest {
            Instances::InProcess => {
                let mut ingest: analytics_ingest::Settings =
                    settings(analytics_ingest::Settings::DEFAULTS, &self.options.overrides);
                ingest.http = any_port();
                ingest.ops = any_port();
                ingest.redis = self.services.redis.clone();
                ingest.postgres = self.services.postgres.clone();
                ingest.ingest.ingest_key = SecretString::from(TEST_INGEST_KEY);
                ingest.ingest.geoip_database = analytics_testkit::geoip_database().display().to_string();
                ingest.ingest.trusted_proxies = self.options.trusted_proxies.to_owned();
                let ingest = analytics_ingest::Application::build(ingest).await.expect("ingest builds");
                let urls =
                    (format!("http://127.0.0.1:{}", ingest.port()), format!("http://127.0.0.1:{}", ingest.ops_port()));
                self.in_process.spawn(|stop| ingest.run_until_stopped(stop));
                urls
            }
            Instances::Processes(_) => {
                let mut env = self.services.environment();
                env.extend(self.options.overrides.iter().cloned());
                env.push(("ANALYTICS__INGEST__INGEST_KEY".into(), TEST_INGEST_KEY.into()));
                env.push((
                    "ANALYTICS__INGEST__GEOIP_DATABASE".into(),
                    analytics_testkit::geoip_database().display().to_string(),
                ));
                env.push(("ANALYTICS__INGEST__TRUSTED_PROXIES".into(), self.options.trusted_proxies.to_owned()));
                let process = ServiceProcess::spawn("analytics-ingest", env);
                let urls = (process.url(), process.ops_url());
                processes.push(process);
                urls
            }
        };
        (url, ops_url, processes)
    }

    /// The first forwarder's ops URL (none for `Processes(0)`), and the processes.
    async fn forwarders(&mut self) -> (String, Vec<ServiceProcess>) {
        let mut processes = Vec::new();
        let ops_url = match self.options.forwarders {
            Instances::InProcess => {
                let mut forwarder: analytics_forwarder::Settings =
                    settings(analytics_forwarder::Settings::DEFAULTS, &self.options.overrides);
                forwarder.http = any_port();
                forwarder.redis = self.services.redis.clone();
                forwarder.amqp = forwarder.amqp.on_broker_of(&self.services.amqp);
                forwarder.forwarder.instance_id = format!("{}-forwarder", self.namespace.name);
                forwarder.forwarder.depth_interval_ms = 200;
                forwarder.forwarder.heartbeat_ttl_ms = self.options.heartbeat_ttl_ms;
                let forwarder = analytics_forwarder::Application::build(forwarder).await.expect("forwarder builds");
                let url = format!("http://127.0.0.1:{}", forwarder.port());
                self.in_process.spawn(|stop| forwarder.run_until_stopped(stop));
                url
            }
            Instances::Processes(n) => {
                for i in 0..n {
                    let mut env = self.services.environment();
                    env.extend(self.options.overrides.iter().cloned());
                    env.push((
                        "ANALYTICS__FORWARDER__INSTANCE_ID".into(),
                        format!("{}-forwarder-{i}", self.namespace.name),
                    ));
                    env.push(("ANALYTICS__FORWARDER__DEPTH_INTERVAL_MS".into(), "200".into()));
                    env.push((
                        "ANALYTICS__FORWARDER__HEARTBEAT_TTL_MS".into(),
                        self.options.heartbeat_ttl_ms.to_string(),
                    ));
                    processes.push(ServiceProcess::spawn("analytics-forwarder", env));
                }
                // Processes(0): no forwarder, so a test can read the Redis list itself.
                processes.first().map(ServiceProcess::url).unwrap_or_default()
            }
        };
        (ops_url, processes)
    }

    /// The first aggregator's ops URL, and the processes.
    async fn aggregators(&mut self) -> (String, Vec<ServiceProcess>) {
        let mut processes = Vec::new();
        let ops_url = match self.options.aggregators {
            Instances::InProcess => {
                let mut aggregator: analytics_aggregator::Settings =
                    settings(analytics_aggregator::Settings::DEFAULTS, &self.options.overrides);
                aggregator.http = any_port();
                aggregator.amqp = aggregator.amqp.on_broker_of(&self.services.amqp);
                aggregator.postgres = self.services.postgres.clone();
                aggregator.aggregator.ua_regexes = analytics_testkit::ua_regexes();
                let aggregator = analytics_aggregator::Application::build(aggregator).await.expect("aggregator builds");
                let url = format!("http://127.0.0.1:{}", aggregator.port());
                self.in_process.spawn(|stop| aggregator.run_until_stopped(stop));
                url
            }
            Instances::Processes(n) => {
                for _ in 0..n {
                    let mut env = self.services.environment();
                    env.extend(self.options.overrides.iter().cloned());
                    processes.push(ServiceProcess::spawn("analytics-aggregator", env));
                }
                processes[0].url()
            }
        };
        (ops_url, processes)
    }

    /// Query's public and ops URLs, and its process if it runs as one.
    async fn query(&mut self) -> (String, String, Vec<ServiceProcess>) {
        if let Instances::Processes(_) = self.options.query {
            let mut env = self.services.environment();
            env.extend(self.options.overrides.iter().cloned());
            env.extend(
                [
                    ("ANALYTICS__QUERY__ADMIN_TOKEN", TEST_ADMIN_TOKEN.to_owned()),
                    ("ANALYTICS__QUERY__CACHE_LIVE_SECONDS", self.options.query_cache_live_seconds.to_string()),
                    ("ANALYTICS__QUERY__CORS_ORIGINS", PANEL_ORIGIN.to_owned()),
                ]
                .map(|(k, v)| (k.to_owned(), v)),
            );
            let process = ServiceProcess::spawn("analytics-query", env);
            return (process.url(), process.ops_url(), vec![process]);
        }
        let mut query: analytics_query::Settings =
            settings(analytics_query::Settings::DEFAULTS, &self.options.overrides);
        query.http = any_port();
        query.ops = any_port();
        // The namespace's database, with the service's own session settings.
        query.postgres = query.postgres.on_database_of(&self.services.postgres);
        query.redis = self.services.redis.clone();
        query.query.admin_token = SecretString::from(TEST_ADMIN_TOKEN);
        query.query.cache_live_seconds = self.options.query_cache_live_seconds;
        query.query.cors_origins = PANEL_ORIGIN.to_owned();
        let query = analytics_query::Application::build(query).await.expect("query builds");
        let query_url = format!("http://127.0.0.1:{}", query.port());
        let query_ops_url = format!("http://127.0.0.1:{}", query.ops_port());
        self.in_process.spawn(|stop| query.run_until_stopped(stop));
        (query_url, query_ops_url, Vec::new())
    }
}

/// What one site should have counted, for [`Pipeline::assert_counted`].
#[derive(Debug, Clone)]
pub struct Expect {
    pub site: String,
    pub token: String,
    pub pageviews: i64,
    pub events: i64,
}

/// Sends pageviews to ingest like a well-behaved client: a refused request
/// (503, connection error) is retried with the same Idempotency-Key until
/// accepted, so the number accepted is known exactly even when a reply was
/// lost after Redis stored the events.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    url: String,
    site_id: String,
}

impl Sender {
    /// Sends `total` pageviews, `per_request` at a time; returns how many
    /// ingest accepted (all of them, retrying refusals) and how many requests
    /// were refused on the way.
    pub async fn pageviews(&self, total: usize, per_request: usize) -> (i64, u64) {
        let mut accepted = 0i64;
        let mut refused = 0u64;
        let mut sent = 0usize;
        while sent < total {
            let n = per_request.min(total - sent);
            let events: Vec<serde_json::Value> = (0..n)
                .map(|i| serde_json::json!({ "site": self.site_id, "type": "pageview", "path": format!("/load/{}", i % 10) }))
                .collect();
            let (taken, refusals) = self.post(&serde_json::json!({ "events": events })).await;
            accepted += taken;
            refused += refusals;
            sent += n;
        }
        (accepted, refused)
    }

    /// Sends pageviews, `per_request` at a time, until `stop`; like
    /// [`Self::pageviews`], returns how many were accepted and how many
    /// attempts refused.
    pub async fn pageviews_until(&self, stop: Shutdown, per_request: usize) -> (i64, u64) {
        let (mut accepted, mut refused) = (0, 0);
        while !stop.is_cancelled() {
            let (taken, refusals) = self.pageviews(per_request, per_request).await;
            accepted += taken;
            refused += refusals;
        }
        (accepted, refused)
    }

    /// Posts one batch until ingest takes it (202), with one Idempotency-Key
    /// for every attempt; returns how many events it accepted and how many
    /// attempts were refused (503, no connection) before that.
    pub async fn post(&self, body: &serde_json::Value) -> (i64, u64) {
        let key = uuid::Uuid::new_v4().to_string();
        let mut refused = 0u64;
        loop {
            let response = self
                .http
                .post(&self.url)
                .timeout(std::time::Duration::from_secs(5))
                .header("Idempotency-Key", &key)
                .json(body)
                .send()
                .await;
            match response {
                Ok(response) if response.status() == 202 => {
                    let body: serde_json::Value = response.json().await.expect("202 body");
                    return (body["accepted"].as_i64().expect("accepted count"), refused);
                }
                _ => {
                    refused += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }
}
