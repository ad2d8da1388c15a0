//! Reading Prometheus metrics as a test sees them: a scrape of a service's `/metrics`, or of
//! RabbitMQ's `rabbitmq_prometheus` endpoint for the queues of the test's vhost.

use std::collections::BTreeMap;

/// One scrape: every sample, by series name and labels.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    samples: Vec<Sample>,
}

/// One sample of the text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name, e.g. `hub_measures_submitted_total`.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Scrape {
    /// Scrapes `url` (an HTTP `/metrics` endpoint).
    pub async fn fetch(url: &str) -> anyhow::Result<Self> {
        let response = reqwest::get(url).await?.error_for_status()?;
        Ok(Self::parse(&response.text().await?))
    }

    /// Parses the Prometheus text format; lines it does not understand are skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(parse_line)
            .collect();
        Self { samples }
    }

    /// Every sample.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The sum of the samples of `name` whose labels include `labels`; 0 if there are none
    /// (a counter not yet incremented is not rendered).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Whether any sample of `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..=close], line[close + 1..].trim())
        }
        None => {
            let mut parts = line.splitn(2, ' ');
            (parts.next()?, parts.next()?.trim())
        }
    };
    let value = value.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.find('{') {
        Some(open) => (
            &series[..open],
            parse_labels(&series[open + 1..series.len() - 1])?,
        ),
        None => (series, BTreeMap::new()),
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = rest[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end?;
        labels.insert(key, value);
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    Some(labels)
}

impl crate::Sandbox {
    /// The per-queue series of the test's vhost from RabbitMQ's Prometheus plugin
    /// (`rabbitmq_detailed_queue_messages`, `_messages_ready`, `_messages_unacked`,
    /// `_consumers`), as a Prometheus server would scrape them.
    pub async fn queue_metrics(&self) -> anyhow::Result<Scrape> {
        Scrape::fetch(&self.queue_metrics_url()).await
    }

    /// The URL Prometheus scrapes the test vhost's queues at.
    pub fn queue_metrics_url(&self) -> String {
        format!(
            "{}{}",
            rabbitmq_prometheus(),
            queue_metrics_path(self.vhost())
        )
    }
}

/// The RabbitMQ Prometheus endpoint: `HUB_TEST_RABBITMQ_PROMETHEUS`, by default
/// `http://127.0.0.1:15692`.
pub fn rabbitmq_prometheus() -> String {
    std::env::var("HUB_TEST_RABBITMQ_PROMETHEUS")
        .unwrap_or_else(|_| "http://127.0.0.1:15692".to_string())
}

/// The path and query of the per-queue metrics of `vhost`: only the queue families, only that
/// vhost, so a scrape costs little however many queues the broker holds.
pub fn queue_metrics_path(vhost: &str) -> String {
    format!(
        "/metrics/detailed?vhost={}&family=queue_coarse_metrics&family=queue_consumer_count",
        encode(vhost)
    )
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels() {
        let scrape = Scrape::parse(
            "# HELP x y\n# TYPE hub_x_total counter\nhub_x_total{agency=\"ICBC\",outcome=\"effective\"} 3\n\
             hub_x_total{agency=\"CCB\",outcome=\"effective\"} 2\nhub_up 1\n\
             rabbitmq_detailed_queue_messages{vhost=\"t\",queue=\"agency.bank.CCB\"} 5\n\
             hub_s_bucket{le=\"+Inf\"} 7\n",
        );
        assert_eq!(scrape.value("hub_x_total", &[("agency", "ICBC")]), 3.0);
        assert_eq!(
            scrape.value("hub_x_total", &[("outcome", "effective")]),
            5.0
        );
        assert_eq!(scrape.value("hub_x_total", &[("agency", "BOC")]), 0.0);
        assert_eq!(scrape.value("hub_up", &[]), 1.0);
        assert_eq!(
            scrape.value(
                "rabbitmq_detailed_queue_messages",
                &[("queue", "agency.bank.CCB")]
            ),
            5.0
        );
        assert_eq!(scrape.value("hub_s_bucket", &[("le", "+Inf")]), 7.0);
    }
}
