//! The tamper-evident audit log: every entry of `measure_events` and `case_events` is chained, per
//! table, in `audit_chain`. Each link holds the SHA-256 digest of its entry's canonical encoding
//! and the hash of the link before it, so altering, removing or reordering an entry — or a link —
//! breaks the chain at that entry, whatever the database's triggers allowed.
//!
//! The chainer ([`run`]) chains shortly after each commit, in entry id order, so that a court's
//! request never waits on it (as X-Road stamps its message log in batches). An id missing from
//! the order (a transaction still committing, or one rolled back) is waited for until a later
//! entry is [`GRACE`] old; an entry that commits later than that is chained when it appears, at
//! the end of the chain. [`verify`] walks the chain and names the first broken entry.
//!
//! Canonical encodings, so that the digest depends on values only: every field in column order,
//! integers as 8-byte big-endian, text and bytes as a 4-byte big-endian length and the bytes, an
//! absent value as a single 0 byte and a present optional one as 1 and the value, a time as its
//! microseconds since the Unix epoch. A link is SHA-256 of `audit-link/1`, the previous link
//! (32 zero bytes for the first), the table's name, the seq, the entry id and the entry digest.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::Store;

/// How long a missing entry id is waited for once a later entry is this old.
pub const GRACE: Duration = Duration::from_secs(60);
/// Most entries chained per table and round.
const ROUND: i64 = 2000;

/// The audit tables chained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The measures' audit log.
    MeasureEvents,
    /// The cases' audit log.
    CaseEvents,
}

impl Source {
    /// Both, in the order they are chained and verified.
    pub const ALL: [Source; 2] = [Source::MeasureEvents, Source::CaseEvents];

    /// The table's name, as `audit_chain.source` holds it.
    pub const fn table(self) -> &'static str {
        match self {
            Source::MeasureEvents => "measure_events",
            Source::CaseEvents => "case_events",
        }
    }
}

/// The canonical encoding of an entry, built field by field.
#[derive(Default)]
pub struct Canonical(Vec<u8>);

impl Canonical {
    /// An encoding starting with the table's name.
    pub fn of(source: Source) -> Self {
        let mut c = Self::default();
        c.text(source.table());
        c
    }
    /// An integer.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// Bytes, length first.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(v);
        self
    }
    /// Text, as its UTF-8 bytes.
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    /// A time, in microseconds.
    pub fn time(&mut self, v: OffsetDateTime) -> &mut Self {
        let micros = v.unix_timestamp_nanos() / 1_000;
        self.int(i64::try_from(micros).unwrap_or(i64::MAX))
    }
    /// A UUID, as text.
    pub fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.text(&v.to_string())
    }
    /// An optional value: 0, or 1 and the value.
    pub fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) -> &mut Self {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                write(self, v);
            }
        }
        self
    }
    /// The SHA-256 digest of the encoding.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(&self.0).to_vec()
    }
}

/// The hash of link `seq` of `source`, chaining `entry_digest` of entry `entry_id` to `prev`.
pub fn link(
    prev: Option<&[u8]>,
    source: Source,
    seq: i64,
    entry_id: i64,
    entry_digest: &[u8],
) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"audit-link/1");
    h.update(prev.unwrap_or(&[0u8; 32]));
    h.update(source.table().as_bytes());
    h.update(seq.to_be_bytes());
    h.update(entry_id.to_be_bytes());
    h.update(entry_digest);
    h.finalize().to_vec()
}

/// One link of the chain as stored, with the digest of its entry as the entry stands now (none if
/// the entry is gone).
#[derive(Clone, Debug)]
pub struct StoredLink {
    /// Its place in the chain.
    pub seq: i64,
    /// The entry it chains.
    pub entry_id: i64,
    /// The entry's digest when chained.
    pub entry_digest: Vec<u8>,
    /// The link's hash.
    pub link: Vec<u8>,
    /// The entry's digest now; `None` if the entry is gone.
    pub current: Option<Vec<u8>>,
}

/// The first break found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// The chain position.
    pub seq: i64,
    /// The entry concerned.
    pub entry_id: i64,
    /// What is wrong, in words.
    pub problem: String,
}

/// Where a walk of the chain stands: the last link checked.
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// The last seq checked.
    pub seq: i64,
    /// Its hash.
    pub link: Option<Vec<u8>>,
}

impl Walk {
    /// Checks the next `links` (in seq order) after this point; the first break, if any.
    pub fn check(&mut self, source: Source, links: &[StoredLink]) -> Option<Break> {
        for l in links {
            let brk = |problem: &str| Break {
                seq: l.seq,
                entry_id: l.entry_id,
                problem: problem.to_string(),
            };
            if l.seq != self.seq + 1 {
                return Some(Break {
                    seq: self.seq + 1,
                    entry_id: l.entry_id,
                    problem: format!(
                        "links {} to {} of the chain were removed",
                        self.seq + 1,
                        l.seq - 1
                    ),
                });
            }
            let expected = link(
                self.link.as_deref(),
                source,
                l.seq,
                l.entry_id,
                &l.entry_digest,
            );
            if expected != l.link {
                return Some(brk(
                    "the chain's link was altered, or links were reordered or removed before it",
                ));
            }
            match &l.current {
                None => return Some(brk("the entry was removed")),
                Some(now) if *now != l.entry_digest => {
                    return Some(brk("the entry was altered (or swapped with another)"));
                }
                Some(_) => {}
            }
            self.seq = l.seq;
            self.link = Some(l.link.clone());
        }
        None
    }
}

/// Chains new audit entries until `shutdown`, a round every `every`.
pub async fn run(store: Store, every: Duration, shutdown: CancellationToken) {
    let mut late: Vec<(Source, Vec<i64>)> = Source::ALL.iter().map(|s| (*s, Vec::new())).collect();
    let mut round: u64 = 0;
    loop {
        for (source, skipped) in &mut late {
            // Entries skipped while they were missing are looked for again for a while.
            let retry = round.is_multiple_of(20) && !skipped.is_empty();
            match store
                .chain_round(*source, ROUND, GRACE, retry.then_some(skipped.as_slice()))
                .await
            {
                Ok(outcome) => {
                    skipped.retain(|id| !outcome.chained_late.contains(id));
                    skipped.extend(outcome.skipped);
                    // Keep the most recent only: an id missing for many rounds was rolled back.
                    let excess = skipped.len().saturating_sub(10_000);
                    skipped.drain(..excess);
                }
                Err(e) => {
                    tracing::warn!(error = %e, table = source.table(), "chaining audit entries failed; retrying")
                }
            }
        }
        round += 1;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Walks the chain of every audit table (`Ops.VerifyAudit`).
pub async fn verify(store: &Store) -> Result<Vec<enforcement_proto::v1::AuditChain>, sqlx::Error> {
    const PAGE: i64 = 5000;
    let mut chains = Vec::new();
    for source in Source::ALL {
        let mut walk = Walk::default();
        let mut broken = None;
        loop {
            let links = store.audit_links(source, walk.seq, PAGE).await?;
            if links.is_empty() {
                break;
            }
            if let Some(b) = walk.check(source, &links) {
                broken = Some(b);
                break;
            }
        }
        let (entries, unchained) = store.audit_unchained(source, GRACE).await?;
        if broken.is_none()
            && let Some(id) = unchained
        {
            broken = Some(Break {
                seq: walk.seq + 1,
                entry_id: id,
                problem: "the entry is not in the chain: added afterwards".into(),
            });
        }
        let head = walk
            .link
            .as_deref()
            .map(hub_bus::signing::to_hex)
            .unwrap_or_default();
        chains.push(enforcement_proto::v1::AuditChain {
            source: source.table().into(),
            length: walk.seq,
            entries,
            head,
            intact: broken.is_none(),
            broken_seq: broken.as_ref().map_or(0, |b| b.seq),
            broken_entry_id: broken.as_ref().map_or(0, |b| b.entry_id),
            problem: broken.map(|b| b.problem).unwrap_or_default(),
        });
    }
    Ok(chains)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(digests: &[&[u8]]) -> Vec<StoredLink> {
        let mut prev: Option<Vec<u8>> = None;
        let mut links = Vec::new();
        for (i, d) in digests.iter().enumerate() {
            let seq = i as i64 + 1;
            let l = link(prev.as_deref(), Source::MeasureEvents, seq, seq * 10, d);
            links.push(StoredLink {
                seq,
                entry_id: seq * 10,
                entry_digest: d.to_vec(),
                link: l.clone(),
                current: Some(d.to_vec()),
            });
            prev = Some(l);
        }
        links
    }

    #[test]
    fn an_untouched_chain_verifies_and_a_changed_entry_is_named() {
        let links = chain(&[b"a", b"b", b"c"]);
        let mut walk = Walk::default();
        assert_eq!(walk.check(Source::MeasureEvents, &links), None);
        assert_eq!(walk.seq, 3);

        let mut altered = links.clone();
        altered[1].current = Some(b"x".to_vec());
        let brk = Walk::default()
            .check(Source::MeasureEvents, &altered)
            .expect("a break");
        assert_eq!((brk.seq, brk.entry_id), (2, 20));

        let mut removed = links.clone();
        removed[2].current = None;
        let brk = Walk::default()
            .check(Source::MeasureEvents, &removed)
            .expect("a break");
        assert_eq!(
            (brk.entry_id, brk.problem.as_str()),
            (30, "the entry was removed")
        );

        // Links swapped: their hashes no longer follow.
        let mut swapped = links.clone();
        swapped.swap(0, 1);
        swapped[0].seq = 1;
        swapped[1].seq = 2;
        assert_eq!(
            Walk::default()
                .check(Source::MeasureEvents, &swapped)
                .map(|b| b.seq),
            Some(1)
        );

        let gap = vec![links[0].clone(), links[2].clone()];
        assert_eq!(
            Walk::default()
                .check(Source::MeasureEvents, &gap)
                .map(|b| b.seq),
            Some(2)
        );
    }

    #[test]
    fn the_encoding_separates_its_fields() {
        let mut a = Canonical::of(Source::CaseEvents);
        a.text("ab").text("c");
        let mut b = Canonical::of(Source::CaseEvents);
        b.text("a").text("bc");
        assert_ne!(a.digest(), b.digest());
        let mut none = Canonical::default();
        none.opt(None::<&[u8]>, |c, v| {
            c.bytes(v);
        });
        let mut empty = Canonical::default();
        empty.opt(Some(&b""[..]), |c, v| {
            c.bytes(v);
        });
        assert_ne!(none.digest(), empty.digest());
    }
}
