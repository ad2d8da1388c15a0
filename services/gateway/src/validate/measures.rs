//! One check per kind of measure a court can submit: what it acts on, its amount or period, and
//! the measure as normalised.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{AccountNumber, MeasureKind, Money, OrganisationName, ResidentId};
use pb::submit_request::Measure as M;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ValidSubject, Violations, measure_id, natural_person, period, period_for};

/// What a submitted measure does, checked.
pub(super) struct ValidAction {
    pub kind: MeasureKind,
    /// The asset within the agency: an account, a property, a vehicle, a person.
    pub asset: String,
    /// The asset, masked for display.
    pub asset_display: String,
    /// Amount ordered in fen (freeze, deduction), else zero.
    pub requested_fen: i64,
    /// For a deduction: the court's freeze whose funds are taken first.
    pub deduct_from: Option<Uuid>,
    /// For a freeze or deduction: granted up to the case's open amount rather than refused.
    pub up_to: bool,
    pub normalised: M,
}

/// What a measure is checked against: the case's enforcement amount, the debtor, and now.
pub(super) struct Context<'a> {
    pub enforcement_amount: Option<Money>,
    pub subject: Option<&'a ValidSubject>,
    pub now: OffsetDateTime,
}

impl Context<'_> {
    /// The period in `field`, within the statutory maximum of `kind` counted from now.
    fn period(
        &self,
        v: &mut Violations,
        field: &str,
        p: Option<&pb::Period>,
        kind: MeasureKind,
    ) -> Option<pb::Period> {
        let p = period(v, field, p)?;
        v.check(
            field,
            period_for(kind, field, p, self.now).map_err(|s| s.message().to_string()),
        )
        .map(convert::period_to_proto)
    }

    /// A positive amount in `field`, within the case's enforcement amount.
    fn amount(&self, v: &mut Violations, field: &str, fen: i64) -> Option<Money> {
        let amount = v.check(field, Money::positive(fen))?;
        if let Some(ceiling) = self.enforcement_amount
            && amount.fen() > ceiling.fen()
        {
            v.add(
                field,
                format!(
                    "{amount} exceeds the case's enforcement amount of {ceiling}: no excessive freezing (民诉法 art. 253)"
                ),
            );
            return None;
        }
        Some(amount)
    }
}

/// Checks the measure of a Submit request.
pub(super) fn action(v: &mut Violations, measure: &M, cx: &Context<'_>) -> Option<ValidAction> {
    match measure {
        M::Freeze(f) => freeze(v, f, cx),
        M::Deduction(d) => deduction(v, d, cx),
        M::SealUp(s) => seal_up(v, s, cx),
        M::Distraint(d) => distraint(v, d, cx),
        M::ExitRestriction(x) => exit_restriction(v, x, cx),
    }
}

/// A freeze (冻结): an account, an explicit amount (限额冻结), at most a year.
fn freeze(v: &mut Violations, f: &pb::Freeze, cx: &Context<'_>) -> Option<ValidAction> {
    let account = v.check(
        "freeze.account_number",
        AccountNumber::parse(&f.account_number),
    );
    let amount = cx.amount(v, "freeze.amount_fen", f.amount_fen);
    let period = cx.period(v, "freeze.period", f.period.as_ref(), MeasureKind::Freeze);
    let (account, amount, period) = (account?, amount?, period?);
    Some(ValidAction {
        kind: MeasureKind::Freeze,
        asset: account.to_string(),
        asset_display: account.masked(),
        requested_fen: amount.fen(),
        deduct_from: None,
        up_to: f.up_to_open_amount,
        normalised: M::Freeze(pb::Freeze {
            account_number: account.to_string(),
            amount_fen: amount.fen(),
            period: Some(period),
            up_to_open_amount: f.up_to_open_amount,
        }),
    })
}

/// A deduction (扣划): an account, an amount, the court's receiving account, and optionally the
/// court's freeze whose funds are taken first.
fn deduction(v: &mut Violations, d: &pb::Deduction, cx: &Context<'_>) -> Option<ValidAction> {
    let account = v.check(
        "deduction.account_number",
        AccountNumber::parse(&d.account_number),
    );
    let amount = cx.amount(v, "deduction.amount_fen", d.amount_fen);
    let from = if d.freeze_measure_id.trim().is_empty() {
        Some(None)
    } else {
        v.check(
            "deduction.freeze_measure_id",
            measure_id(&d.freeze_measure_id),
        )
        .map(Some)
    };
    let receiving = receiving_account(v, d.receiving_account.as_ref());
    if !d.remainder_measure_id.trim().is_empty() {
        v.add(
            "deduction.remainder_measure_id",
            "is set by the hub in the instruction; leave it empty",
        );
    }
    let remainder_period = match d.remainder_period.as_ref() {
        None => Some(None),
        Some(_) => cx
            .period(
                v,
                "deduction.remainder_period",
                d.remainder_period.as_ref(),
                MeasureKind::Freeze,
            )
            .map(Some),
    };
    let (account, amount, from, receiving, remainder_period) =
        (account?, amount?, from?, receiving?, remainder_period?);
    Some(ValidAction {
        kind: MeasureKind::Deduction,
        asset: account.to_string(),
        asset_display: account.masked(),
        requested_fen: amount.fen(),
        deduct_from: from,
        up_to: d.up_to_open_amount,
        normalised: M::Deduction(pb::Deduction {
            account_number: account.to_string(),
            amount_fen: amount.fen(),
            freeze_measure_id: from.map(|id| id.to_string()).unwrap_or_default(),
            receiving_account: Some(receiving),
            up_to_open_amount: d.up_to_open_amount,
            remainder_measure_id: String::new(),
            remainder_period,
        }),
    })
}

/// A seal-up (查封) or pre-seizure (预查封): a unit or parcel, at most three years.
fn seal_up(v: &mut Violations, s: &pb::SealUp, cx: &Context<'_>) -> Option<ValidAction> {
    let kind = match pb::PropertyKind::try_from(s.property_kind) {
        Ok(pb::PropertyKind::Unit | pb::PropertyKind::Parcel) => Some(s.property_kind),
        _ => {
            v.add("seal_up.property_kind", "must be UNIT or PARCEL");
            None
        }
    };
    let property = v.check("seal_up.property_id", registry_id(&s.property_id, 64));
    let period = cx.period(v, "seal_up.period", s.period.as_ref(), MeasureKind::SealUp);
    let (kind, property, period) = (kind?, property?, period?);
    Some(ValidAction {
        kind: MeasureKind::SealUp,
        asset: property.clone(),
        asset_display: property.clone(),
        requested_fen: 0,
        deduct_from: None,
        up_to: false,
        normalised: M::SealUp(pb::SealUp {
            property_kind: kind,
            property_id: property,
            pre_seizure: s.pre_seizure,
            period: Some(period),
        }),
    })
}

/// A distraint (扣押) of a vehicle by plate or VIN, at most two years.
fn distraint(v: &mut Violations, d: &pb::Distraint, cx: &Context<'_>) -> Option<ValidAction> {
    let plate = d.plate.trim().to_string();
    let vin = d.vin.trim().to_ascii_uppercase();
    if plate.is_empty() && vin.is_empty() {
        v.add(
            "distraint.vin",
            "a plate or a VIN is required to identify the vehicle",
        );
    }
    if !plate.is_empty()
        && (plate.chars().count() > 16
            || plate.chars().any(|c| c.is_control() || c.is_whitespace()))
    {
        v.add(
            "distraint.plate",
            "must be at most 16 characters without spaces, e.g. 京A12345",
        );
    }
    if !vin.is_empty() && !valid_vin(&vin) {
        v.add(
            "distraint.vin",
            "must be 17 characters of A-Z and 0-9 without I, O or Q (ISO 3779)",
        );
    }
    let period = cx.period(
        v,
        "distraint.period",
        d.period.as_ref(),
        MeasureKind::Distraint,
    )?;
    let key = if vin.is_empty() {
        plate.clone()
    } else {
        vin.clone()
    };
    Some(ValidAction {
        kind: MeasureKind::Distraint,
        asset: format!("vehicle:{key}"),
        asset_display: key,
        requested_fen: 0,
        deduct_from: None,
        up_to: false,
        normalised: M::Distraint(pb::Distraint {
            plate,
            vin,
            period: Some(period),
        }),
    })
}

/// An exit restriction (限制出境): the debtor if a natural person, else its legal
/// representative, principal or directly responsible person (执行程序解释 art. 24).
fn exit_restriction(
    v: &mut Violations,
    x: &pb::ExitRestriction,
    cx: &Context<'_>,
) -> Option<ValidAction> {
    let period = cx.period(
        v,
        "exit_restriction.period",
        x.period.as_ref(),
        MeasureKind::ExitRestriction,
    );
    let role = pb::ResponsibleRole::try_from(x.role).unwrap_or(pb::ResponsibleRole::Unspecified);
    let person = match (
        cx.subject.and_then(|s| s.person.as_ref()),
        x.person.as_ref(),
    ) {
        // A natural-person debtor: the restriction binds them; a named person must be them.
        (Some(debtor), named) => {
            if let Some(named) = named.filter(|n| !n.resident_id.trim().is_empty())
                && let Ok(id) = ResidentId::parse(&named.resident_id)
                && id.as_str() != debtor.resident_id
            {
                v.add(
                    "exit_restriction.person.resident_id",
                    "for a natural-person debtor the restriction binds the debtor; name an organisation's representative only when the subject is an organisation",
                );
            }
            if !matches!(
                role,
                pb::ResponsibleRole::Unspecified | pb::ResponsibleRole::Debtor
            ) {
                v.add(
                    "exit_restriction.role",
                    "must be DEBTOR (or unset) when the subject is a natural person",
                );
            }
            Some((debtor.clone(), pb::ResponsibleRole::Debtor))
        }
        (None, None) => {
            if cx.subject.is_some() {
                v.add(
                    "exit_restriction.person",
                    "is required for an organisation debtor: name its legal representative, principal or directly responsible person (执行程序解释 art. 24)",
                );
            }
            None
        }
        (None, Some(named)) => {
            let person = natural_person(v, "exit_restriction.person", named);
            if !matches!(
                role,
                pb::ResponsibleRole::LegalRepresentative
                    | pb::ResponsibleRole::Principal
                    | pb::ResponsibleRole::DirectlyResponsible
            ) {
                v.add(
                    "exit_restriction.role",
                    "must be LEGAL_REPRESENTATIVE, PRINCIPAL or DIRECTLY_RESPONSIBLE for an organisation debtor",
                );
                None
            } else {
                person.map(|p| (p, role))
            }
        }
    };
    let (period, (person, role)) = (period?, person?);
    Some(ValidAction {
        kind: MeasureKind::ExitRestriction,
        asset: format!("person:{}", person.resident_id),
        asset_display: ResidentId::parse(&person.resident_id)
            .map(|id| id.masked())
            .unwrap_or_default(),
        requested_fen: 0,
        deduct_from: None,
        up_to: false,
        normalised: M::ExitRestriction(pb::ExitRestriction {
            person: Some(person),
            role: role as i32,
            period: Some(period),
        }),
    })
}

fn receiving_account(
    v: &mut Violations,
    r: Option<&pb::ReceivingAccount>,
) -> Option<pb::ReceivingAccount> {
    let Some(r) = r else {
        v.add(
            "deduction.receiving_account",
            "is required: the court's account that receives the funds",
        );
        return None;
    };
    let bank = v.check(
        "deduction.receiving_account.bank_name",
        OrganisationName::parse(&r.bank_name),
    );
    let number = v.check(
        "deduction.receiving_account.account_number",
        AccountNumber::parse(&r.account_number),
    );
    let name = v.check(
        "deduction.receiving_account.account_name",
        OrganisationName::parse(&r.account_name),
    );
    Some(pb::ReceivingAccount {
        bank_name: bank?.to_string(),
        account_number: number?.to_string(),
        account_name: name?.to_string(),
    })
}

fn registry_id(raw: &str, max: usize) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("is required".into());
    }
    if id.len() > max || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("must be 1 to {max} characters of A-Z, 0-9 and '-'"));
    }
    Ok(id.to_ascii_uppercase())
}

fn valid_vin(vin: &str) -> bool {
    vin.len() == 17
        && vin.chars().all(|c| {
            c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O' | 'Q'))
        })
}
