//! Applying agency reports to measures, monotonically.
//!
//! An update is applied only if it comes from the measure's own agency, carries a newer agency
//! revision than any applied before (or none, for the adapter's own receipts and failures), and
//! is a transition the state machine allows. Repeated, reordered and stray reports therefore
//! change nothing.

use enforcement_proto::{
    convert::{self, instant_opt, state_from_proto},
    v1 as pb,
};
use hub_domain::{AgencyId, MeasureKind, MeasureState};
use prost::Message;
use std::collections::HashMap;
use time::OffsetDateTime;

use uuid::Uuid;

use crate::store::{
    MeasureRow, NewEvent, Store,
    reports::{AnswerRecorded, ReportBatch},
};

/// Why an update was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// No such measure.
    UnknownMeasure,
    /// The measure is addressed to another agency.
    OtherAgency,
    /// The state is unspecified or unknown.
    UnknownState,
    /// An update with this revision or a later one was applied already.
    Stale,
    /// The state machine does not allow the move (e.g. out of a final state).
    NotAllowed,
}

/// What to do with one update.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Leave the measure alone.
    Ignore(Ignored),
    /// A newer revision that changes nothing the court sees: remember the revision only.
    Touch {
        /// The revision to remember.
        agency_revision: i64,
    },
    /// Change the measure.
    Apply(Change),
}

/// The new values of a measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub state: MeasureState,
    pub held_fen: i64,
    pub waiting_position: i32,
    pub registration_number: String,
    pub reason_code: i32,
    pub reason_message: String,
    pub agency_revision: i64,
    pub effective_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    /// What a freeze is for now, when its agency reported it.
    pub amount_fen: Option<i64>,
    pub event: pb::EventKind,
    pub message: String,
}

/// Decides what `update`, reported by `agency`, does to `row`.
pub fn decide(row: &MeasureRow, agency: &AgencyId, update: &pb::MeasureUpdate) -> Decision {
    if !row.agency.is(agency) {
        return Decision::Ignore(Ignored::OtherAgency);
    }
    let Some(next) = state_from_proto(update.state) else {
        return Decision::Ignore(Ignored::UnknownState);
    };
    let revision = i64::try_from(update.revision).unwrap_or(i64::MAX);
    if revision > 0 && revision <= row.agency_revision {
        return Decision::Ignore(Ignored::Stale);
    }
    let current = row.state;
    // The hub gave up on the instruction (no answer in time), but the agency now reports what it
    // did: the agency's account prevails, for it is what binds the asset.
    let corrects_give_up = revision > 0
        && row.agency_revision == 0
        && matches!(current, MeasureState::Failed | MeasureState::Expired)
        && matches!(
            next,
            MeasureState::Effective
                | MeasureState::Partial
                | MeasureState::Waiting
                | MeasureState::Rejected
        );
    if !current.can_become(next) && !corrects_give_up {
        return Decision::Ignore(Ignored::NotAllowed);
    }
    let (reason_code, reason_message) = match &update.reason {
        Some(r) => (r.code, r.message.clone()),
        None => (row.reason_code, row.reason_message.clone()),
    };
    let change = Change {
        state: next,
        held_fen: update.held_fen.max(0),
        waiting_position: if next == MeasureState::Waiting {
            i32::try_from(update.waiting_position).unwrap_or(i32::MAX)
        } else {
            0
        },
        registration_number: if update.registration_number.is_empty() {
            row.registration_number.clone()
        } else {
            update.registration_number.clone()
        },
        reason_code,
        reason_message,
        agency_revision: row.agency_revision.max(revision),
        effective_at: instant_opt(update.effective_at.as_ref()).or(row.effective_at),
        expires_at: instant_opt(update.expires_at.as_ref()).or(row.expires_at),
        amount_fen: if update.amount_fen > 0 {
            Some(update.amount_fen)
        } else {
            row.amount_fen
        },
        event: if next != current {
            pb::EventKind::StateChanged
        } else {
            pb::EventKind::DetailsChanged
        },
        message: update.note.clone(),
    };
    let unchanged = next == current
        && change.held_fen == row.held_fen
        && change.waiting_position == row.waiting_position
        && change.registration_number == row.registration_number
        && change.effective_at == row.effective_at
        && change.expires_at == row.expires_at
        && change.amount_fen.unwrap_or(row.requested_fen) == row.amount()
        && change.reason_code == row.reason_code;
    if unchanged {
        Decision::Touch {
            agency_revision: change.agency_revision,
        }
    } else {
        Decision::Apply(change)
    }
}

/// The result of applying a batch of reports.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Updates that changed a measure.
    pub changed: usize,
    /// Updates that were not applied, and why.
    pub ignored: Vec<(String, Ignored)>,
    /// The changes of state applied, for the metrics.
    pub moved: Vec<Moved>,
}

/// A measure's change of state, as the metrics count it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// What the measure orders.
    pub kind: MeasureKind,
    /// The agency's code.
    pub agency: String,
    /// The state before the change.
    pub from: MeasureState,
    /// The state after it.
    pub to: MeasureState,
    /// When the court submitted the measure.
    pub submitted_at: OffsetDateTime,
}

impl Change {
    /// Writes the change into `row`, as the measure now stands.
    fn apply_to(&self, row: &mut MeasureRow, now: OffsetDateTime) {
        if self.expires_at != row.expires_at {
            // A new expiry (a renewal): warn again as it approaches.
            row.warned_within_days = None;
        }
        row.state = self.state;
        row.held_fen = self.held_fen;
        row.waiting_position = self.waiting_position;
        row.registration_number
            .clone_from(&self.registration_number);
        row.reason_code = self.reason_code;
        row.reason_message.clone_from(&self.reason_message);
        row.agency_revision = self.agency_revision;
        row.effective_at = self.effective_at;
        row.expires_at = self.expires_at;
        row.amount_fen = self.amount_fen;
        row.version += 1;
        row.updated_at = now;
    }
}

/// One update as received, with the agency that reported it and, for an inquiry, its answer.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The reporting agency.
    pub agency: AgencyId,
    /// The change.
    pub update: pb::MeasureUpdate,
    /// For an inquiry: what the agency found.
    pub answer: Option<pb::InquiryAnswer>,
}

/// Applies the updates of many reports, each with the agency that sent it, in one transaction:
/// one statement locks every measure concerned, one writes them all back, one records the audit
/// entries. Under load this is what keeps the gateway's commits few.
///
/// Updates are applied in (measure, revision) order, and measures are locked in id order, so a
/// measure sees its changes in the agency's order and concurrent batches cannot deadlock.
pub async fn apply_reports(
    store: &Store,
    updates: &[Incoming],
    receipts: &[crate::store::keys::NewReceipt],
    now: OffsetDateTime,
) -> Result<Applied, crate::Error> {
    let mut ordered: Vec<(Uuid, &Incoming)> = Vec::with_capacity(updates.len());
    let mut outcome = Applied::default();
    for incoming in updates {
        match Uuid::parse_str(&incoming.update.measure_id) {
            Ok(id) => ordered.push((id, incoming)),
            Err(_) => outcome
                .ignored
                .push((incoming.update.measure_id.clone(), Ignored::UnknownMeasure)),
        }
    }
    ordered.sort_by_key(|(id, i)| (*id, i.update.revision));
    let mut ids: Vec<Uuid> = ordered.iter().map(|(id, _)| *id).collect();
    ids.dedup();

    let (mut batch, locked) = store.lock_for_reports(&ids).await?;
    let mut rows: HashMap<Uuid, MeasureRow> = locked.into_iter().map(|r| (r.id, r)).collect();
    let mut written: Vec<Uuid> = Vec::new();
    let mut events: Vec<NewEvent> = Vec::new();
    // A measure the hub does not know may be the freeze a deduction left for its remainder,
    // reported for the first time: it is recorded now, and the update applied to it.
    let unknown: Vec<(Uuid, i64)> = ordered
        .iter()
        .filter(|(id, _)| !rows.contains_key(id))
        .map(|(id, i)| (*id, i.update.amount_fen))
        .collect();
    if !unknown.is_empty() {
        for row in batch.adopt_remainders(&unknown, now).await? {
            written.push(row.id);
            rows.insert(row.id, row);
        }
    }
    for (id, incoming) in ordered {
        let (agency, update) = (&incoming.agency, &incoming.update);
        let Some(row) = rows.get_mut(&id) else {
            outcome
                .ignored
                .push((update.measure_id.clone(), Ignored::UnknownMeasure));
            continue;
        };
        if row.kind == MeasureKind::Inquiry {
            match answer(&mut batch, row, incoming, now).await? {
                Ok(entries) => {
                    outcome.changed += 1;
                    written.push(id);
                    events.extend(entries);
                }
                Err(why) => outcome.ignored.push((update.measure_id.clone(), why)),
            }
            continue;
        }
        match decide(row, agency, update) {
            Decision::Ignore(why) => outcome.ignored.push((update.measure_id.clone(), why)),
            Decision::Touch { agency_revision } => {
                row.agency_revision = agency_revision;
                written.push(id);
            }
            Decision::Apply(change) => {
                let from = row.state;
                change.apply_to(row, now);
                outcome.moved.push(Moved {
                    kind: row.kind,
                    agency: row.agency.code().to_string(),
                    from,
                    to: row.state,
                    submitted_at: row.submitted_at,
                });
                outcome.changed += 1;
                written.push(id);
                events.push(NewEvent::new(row.clone(), change.event, change.message));
            }
        }
    }
    written.sort_unstable();
    written.dedup();
    let changed: Vec<&MeasureRow> = written.iter().filter_map(|id| rows.get(id)).collect();
    batch.record_receipts(receipts, now).await?;
    batch.commit(&changed, &events).await?;
    Ok(outcome)
}

/// Records an agency's answer to an inquiry in `row` (locked) and its answer row; returns the
/// audit entries to write (the answer, and the finish when it was the last one), or why it was
/// not applied.
async fn answer(
    batch: &mut ReportBatch,
    row: &mut MeasureRow,
    incoming: &Incoming,
    now: OffsetDateTime,
) -> Result<Result<Vec<NewEvent>, Ignored>, crate::Error> {
    let agency = &incoming.agency;
    if !row.agency.includes(agency) {
        return Ok(Err(Ignored::OtherAgency));
    }
    let refused = match state_from_proto(incoming.update.state) {
        Some(MeasureState::Effective | MeasureState::Partial) => false,
        Some(MeasureState::Rejected | MeasureState::Failed | MeasureState::Expired) => true,
        // Receipts and the like say nothing about what was found.
        _ => return Ok(Err(Ignored::NotAllowed)),
    };
    let holdings = incoming
        .answer
        .as_ref()
        .map(|a| a.holdings.clone())
        .unwrap_or_default();
    let event = pb::InquiryAnswerEvent {
        agency: Some(convert::agency_ref(agency)),
        state: incoming.update.state,
        holdings,
        reason: incoming.update.reason.clone(),
        at: Some(convert::timestamp(now)),
    };
    let detail = event.encode_to_vec();
    match batch
        .record_answer(row.id, agency.code.as_str(), refused, &detail, now)
        .await?
    {
        AnswerRecorded::Awaited => {}
        AnswerRecorded::Added => row.inquiry_addressed += 1,
        AnswerRecorded::Repeated => return Ok(Err(Ignored::Stale)),
    }
    row.inquiry_answered += 1;
    if refused {
        row.inquiry_refused += 1;
    } else if event.holdings.is_empty() {
        row.inquiry_found_nothing += 1;
    } else {
        row.inquiry_found += 1;
    }
    if row.state == MeasureState::Partial {
        row.inquiry_unanswered = (row.inquiry_unanswered - 1).max(0);
    }
    row.version += 1;
    row.updated_at = now;
    let who = agency.to_string();
    let mut entries = vec![NewEvent {
        row: row.clone(),
        kind: pb::EventKind::Answer,
        message: if refused {
            format!("{who} refused")
        } else {
            format!("{who} answered: {} found", event.holdings.len())
        },
        detail: Some(detail),
    }];
    if row.inquiry_answered >= row.inquiry_addressed
        && row.state.can_become(MeasureState::Effective)
    {
        row.state = MeasureState::Effective;
        row.inquiry_unanswered = 0;
        row.effective_at = Some(now);
        row.version += 1;
        entries.push(NewEvent::new(
            row.clone(),
            pb::EventKind::StateChanged,
            "every agency asked has answered",
        ));
    }
    Ok(Ok(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_domain::{AgencyCode, AgencyKind};

    fn bank() -> AgencyId {
        AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse("ICBC").expect("code"),
        }
    }

    fn row(state: MeasureState, revision: i64) -> MeasureRow {
        MeasureRow {
            agency_revision: revision,
            ..MeasureRow::example(MeasureKind::Freeze, state)
        }
    }

    fn update(state: pb::MeasureState, revision: u64, held_fen: i64) -> pb::MeasureUpdate {
        pb::MeasureUpdate {
            state: state as i32,
            revision,
            held_fen,
            ..Default::default()
        }
    }

    #[test]
    fn an_outcome_moves_a_dispatched_measure_forward() {
        let d = decide(
            &row(MeasureState::Dispatched, 0),
            &bank(),
            &update(pb::MeasureState::Effective, 1, 1_000_000),
        );
        let Decision::Apply(change) = d else {
            panic!("expected a change, got {d:?}");
        };
        assert_eq!(change.state, MeasureState::Effective);
        assert_eq!(change.held_fen, 1_000_000);
        assert_eq!(change.agency_revision, 1);
        assert_eq!(change.event, pb::EventKind::StateChanged);
    }

    #[test]
    fn a_repeated_or_older_revision_is_ignored() {
        let r = row(MeasureState::Effective, 2);
        for rev in [1, 2] {
            assert_eq!(
                decide(&r, &bank(), &update(pb::MeasureState::Partial, rev, 5)),
                Decision::Ignore(Ignored::Stale)
            );
        }
    }

    #[test]
    fn nothing_leaves_a_final_state() {
        assert_eq!(
            decide(
                &row(MeasureState::Released, 3),
                &bank(),
                &update(pb::MeasureState::Effective, 4, 1)
            ),
            Decision::Ignore(Ignored::NotAllowed)
        );
    }

    #[test]
    fn the_agencys_outcome_prevails_over_the_hub_giving_up() {
        let d = decide(
            &row(MeasureState::Failed, 0),
            &bank(),
            &update(pb::MeasureState::Effective, 1, 1_000_000),
        );
        let Decision::Apply(change) = d else {
            panic!("expected a change, got {d:?}");
        };
        assert_eq!(change.state, MeasureState::Effective);
        // But not over an agency's own final word.
        assert_eq!(
            decide(
                &row(MeasureState::Released, 2),
                &bank(),
                &update(pb::MeasureState::Effective, 3, 1)
            ),
            Decision::Ignore(Ignored::NotAllowed)
        );
        // Nor may the hub's own give-up be repeated or reversed by another give-up.
        assert_eq!(
            decide(
                &row(MeasureState::Failed, 0),
                &bank(),
                &update(pb::MeasureState::Effective, 0, 1)
            ),
            Decision::Ignore(Ignored::NotAllowed)
        );
    }

    #[test]
    fn a_late_receipt_does_not_undo_an_outcome() {
        assert_eq!(
            decide(
                &row(MeasureState::Effective, 1),
                &bank(),
                &update(pb::MeasureState::Delivered, 0, 0)
            ),
            Decision::Ignore(Ignored::NotAllowed)
        );
    }

    #[test]
    fn another_agency_cannot_touch_the_measure() {
        let other = AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse("CCB").expect("code"),
        };
        assert_eq!(
            decide(
                &row(MeasureState::Dispatched, 0),
                &other,
                &update(pb::MeasureState::Effective, 1, 1)
            ),
            Decision::Ignore(Ignored::OtherAgency)
        );
    }

    #[test]
    fn a_top_up_is_a_details_change() {
        let mut r = row(MeasureState::Partial, 1);
        r.held_fen = 500;
        let Decision::Apply(change) =
            decide(&r, &bank(), &update(pb::MeasureState::Partial, 2, 800))
        else {
            panic!("expected a change");
        };
        assert_eq!(change.event, pb::EventKind::DetailsChanged);
        assert_eq!(change.held_fen, 800);
    }

    #[test]
    fn a_newer_revision_without_changes_only_touches() {
        let mut r = row(MeasureState::Effective, 1);
        r.held_fen = 1_000_000;
        assert_eq!(
            decide(
                &r,
                &bank(),
                &update(pb::MeasureState::Effective, 2, 1_000_000)
            ),
            Decision::Touch { agency_revision: 2 }
        );
    }
}
